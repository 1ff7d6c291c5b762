"""What is under the crosshair: RAS mm, and voxel index and value of every visible image.

Works on any layer-like object with ``name``, ``visible``, ``data``, ``world_to_data`` and
``metadata`` (napari layers are such objects; no napari import is needed here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerReadout:
    """One layer at one world point.

    Attributes
    ----------
    name : str
    index_disp : tuple of int or None
        Index into the layer's array (display grid), None when the point is outside it.
    index_vox : tuple of int or None
        Index into the source file's voxel grid (``disp2vox`` from the reader), when known.
    value : float or tuple or None
        The voxel value (a tuple for RGB), None outside the image.
    """

    name: str
    index_disp: tuple | None
    index_vox: tuple | None
    value: object


def world_to_ras(point_world) -> tuple[float, float, float]:
    """napari world point ``(..., S, A, R)`` to RAS mm ``(R, A, S)``."""
    p = [float(v) for v in point_world[-3:]]
    return (p[2], p[1], p[0])


def layer_readout(layer, point_world) -> LayerReadout:
    """Index and value of ``layer`` at ``point_world`` (nearest voxel)."""
    data = layer.data
    shape = tuple(data.shape)
    coords = np.asarray(layer.world_to_data(tuple(point_world)), float)
    rgb = bool(getattr(layer, "rgb", False))
    n_index = len(shape) - (1 if rgb else 0)
    coords = coords[-n_index:] if coords.size >= n_index else coords
    idx = tuple(int(v) for v in np.round(coords))
    if len(idx) != n_index or any(i < 0 or i >= s for i, s in zip(idx, shape, strict=False)):
        return LayerReadout(layer.name, None, None, None)
    value = np.asarray(data[idx])
    value = tuple(value.tolist()) if value.ndim else value.item()
    index_vox = None
    disp2vox = (getattr(layer, "metadata", None) or {}).get("disp2vox")
    if disp2vox is not None:
        spatial = np.r_[np.asarray(idx[-3:], float), 1.0]
        vox = np.asarray(disp2vox, float) @ spatial
        index_vox = (*idx[:-3], *(int(round(v)) for v in vox[:3]))
    return LayerReadout(layer.name, idx, index_vox, value)


def readout(layers, point_world) -> list[LayerReadout]:
    """Readouts of the visible image and labels layers, top layer first (not helper layers
    such as the ROI pen's preview, marked ``metadata["nora_helper"]``)."""
    out = []
    for layer in reversed(list(layers)):
        if not getattr(layer, "visible", True) or not hasattr(layer, "world_to_data"):
            continue
        if not _is_voxel_layer(layer) or (getattr(layer, "metadata", None) or {}).get(
                "nora_helper"):
            continue  # points, shapes, surfaces: no voxel to read; the pen's preview
        out.append(layer_readout(layer, point_world))
    return out


def _is_voxel_layer(layer) -> bool:
    """Images (have contrast limits) and labels (have a selected label) on an array grid."""
    data = getattr(layer, "data", None)
    gridded = hasattr(data, "shape") and hasattr(data, "__getitem__")
    return gridded and (hasattr(layer, "contrast_limits") or hasattr(layer, "selected_label"))


def format_readout(point_world, rows) -> str:
    """One line for the position, one per layer: 'name [i j k] = value'."""
    r, a, s = world_to_ras(point_world)
    lines = [f"RAS {r:.1f} {a:.1f} {s:.1f} mm"]
    for row in rows:
        if row.value is None:
            lines.append(f"{row.name}: outside")
            continue
        idx = row.index_vox if row.index_vox is not None else row.index_disp
        val = row.value
        val = f"{val:.4g}" if isinstance(val, float) else str(val)
        lines.append(f"{row.name} [{' '.join(map(str, idx))}] = {val}")
    return "\n".join(lines)
