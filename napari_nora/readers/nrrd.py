"""NRRD volumes (``.nrrd``, detached ``.nhdr`` with its data file), with pynrrd.

* geometry: ``space directions`` (one column per spatial axis) and ``space origin`` (centre of
  the first sample) in the file's ``space``: RAS, LAS and LPS (and their ``-time`` variants) are
  converted to RAS exactly; ``scanner-xyz`` and ``3D-right-handed`` are taken as RAS,
  ``3D-left-handed`` as LAS, each with a logged note; without ``space``, a diagonal grid from
  ``spacings`` (1 mm when missing) at the origin, with a logged note;
* axes whose ``kinds`` are not spatial (``none`` in ``space directions``): three or four colour
  components (``RGB-color``, ``3-color``, ``RGBA-color``...) make an RGB image, any other
  (``list``, ``vector``, ``time``...) a time series;
* encodings raw, gzip, bzip2 and ascii (pynrrd); the stored dtype is kept;
* label volumes: Slicer segmentations (``Segment<N>_Name``, ``_LabelValue``, ``_Color``,
  ``_Layer`` keys; one Labels layer per Slicer layer) and integer volumes with a label table
  beside them become Labels layers with names and colours.
"""

from __future__ import annotations

import logging
import re

import nrrd as pynrrd
import numpy as np

from napari_nora.readers import labeltable
from napari_nora.readers.layers import layer_name, volume_layer
from napari_nora.readers.registry import NoraReadError

log = logging.getLogger(__name__)

#: NRRD space -> (diagonal taking it to RAS, note when the mapping is an assumption)
SPACES = {
    "right-anterior-superior": ((1, 1, 1), None),
    "ras": ((1, 1, 1), None),
    "left-anterior-superior": ((-1, 1, 1), None),
    "las": ((-1, 1, 1), None),
    "left-posterior-superior": ((-1, -1, 1), None),
    "lps": ((-1, -1, 1), None),
    "scanner-xyz": ((1, 1, 1), "space 'scanner-xyz' taken as RAS"),
    "3d-right-handed": ((1, 1, 1), "space '3D-right-handed' taken as RAS"),
    "3d-left-handed": ((-1, 1, 1), "space '3D-left-handed' taken as LAS (x negated)"),
}
SPATIAL_KINDS = {"domain", "space", "none", "???"}
COLOR_KINDS = {"rgb-color", "3-color", "rgba-color", "4-color"}


def _space_to_ras(header):
    """Diagonal (3,) taking the file's space to RAS, and a note when it is an assumption."""
    space = str(header.get("space", "")).lower()
    if space.endswith("-time"):
        space = space[: -len("-time")]
    if space not in SPACES:
        return None, None
    flips, note = SPACES[space]
    return np.array(flips, float), note


def _axes(header, ndim):
    """Split the file's axes into spatial ones (with their direction, or None) and others."""
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * ndim)]
    dirs = header.get("space directions")
    spatial, other = [], []
    for ax in range(ndim):
        if dirs is not None:
            d = np.asarray(dirs[ax], dtype=float)[:3]
            if np.all(np.isfinite(d)) and np.any(d != 0):
                spatial.append((ax, d))
            else:
                other.append(ax)
        elif kinds[ax] in SPATIAL_KINDS and len(spatial) < 3:
            spatial.append((ax, None))
        else:
            other.append(ax)
    return spatial, other, kinds


def _geometry(header, spatial, path):
    """vox2ras (4, 4) for the spatial axes, and a note when the geometry is assumed."""
    notes = []
    aff = np.eye(4)
    if header.get("space directions") is not None:
        flips, note = _space_to_ras(header)
        if flips is None:
            flips = np.ones(3)
            notes.append(f"space {header.get('space', 'unset')!r} unknown, taken as RAS")
        elif note:
            notes.append(note)
        cols = [d for _, d in spatial]
        origin = np.asarray(header.get("space origin", np.zeros(3)), float)[:3]
        if not np.all(np.isfinite(origin)):
            origin = np.zeros(3)
        aff[:3, : len(cols)] = np.column_stack(cols)
        aff[:3, 3] = origin
        aff = np.diag([*flips, 1.0]) @ aff
    else:
        spacings = header.get("spacings")
        for n, (ax, _) in enumerate(spatial):
            sp = float(spacings[ax]) if spacings is not None else 1.0
            aff[n, n] = sp if np.isfinite(sp) and sp != 0 else 1.0
        notes.append("no 'space' in the header: axes taken as R, A, S with the 'spacings' "
                     "(1 mm when missing) and the origin at 0")
    if len(spatial) == 2:  # 2D image: a one-voxel-thick slab along the normal
        n = np.cross(aff[:3, 0], aff[:3, 1])
        aff[:3, 2] = n / np.linalg.norm(n) if np.any(n) else (0, 0, 1)
    for note in notes:
        log.info("%s: %s", path, note)
    return aff, "; ".join(notes) or None


def _segments(header, layered: bool):
    """Slicer segmentation keys: {layer: {label_value: (name, rgba)}}, or {} when absent.

    Without ``_Layer`` keys (Slicer before 4.11) a 4D file holds one segment per layer.
    """
    out: dict[int, dict] = {}
    keys = sorted({int(m.group(1)) for k in header
                   if (m := re.fullmatch(r"Segment(\d+)_Name", str(k)))})
    for n in keys:
        get = lambda f, d=None: header.get(f"Segment{n}_{f}", d)  # noqa: E731
        try:
            value = int(get("LabelValue", 1))
            layer = int(get("Layer", n if layered else 0))
            color = [float(c) for c in str(get("Color", "")).split()[:3]]
        except ValueError:
            continue
        rgba = [*color, 1.0] if len(color) == 3 else None
        out.setdefault(layer, {})[value] = (str(get("Name")), rgba)
    return out


def read(path) -> list:
    """Read a NRRD file (or a detached ``.nhdr`` header and its data) into layers.

    Parameters
    ----------
    path : str or Path
        ``.nrrd`` or ``.nhdr`` file.

    Returns
    -------
    list of (data, kwargs, layer_type)
        One Image (grey, RGB or time series) or Labels layer; a Slicer segmentation with
        overlapping segments gives one Labels layer per layer.

    Raises
    ------
    NoraReadError
        When the header or the data cannot be read; the message names the file.
    """
    try:
        data, header = pynrrd.read(str(path), index_order="F")
    except Exception as exc:  # noqa: BLE001 - pynrrd raises many kinds; re-said with the file
        raise NoraReadError(f"{path}: not a readable NRRD file: {exc}") from exc
    if data.size == 0:
        raise NoraReadError(f"{path}: empty image (sizes {list(data.shape)})")
    spatial, other, kinds = _axes(header, data.ndim)
    if not 2 <= len(spatial) <= 3 or len(spatial) + len(other) != data.ndim:
        raise NoraReadError(f"{path}: needs 2 or 3 spatial axes, found {len(spatial)} "
                            f"(kinds {kinds})")
    affine, note = _geometry(header, spatial, path)
    vol = np.transpose(data, [ax for ax, _ in spatial] + other)
    if len(spatial) == 2:
        vol = vol[:, :, None]
    n_extra = int(np.prod(vol.shape[3:])) if vol.ndim > 3 else 1
    vol = vol.reshape(vol.shape[:3] + ((n_extra,) if n_extra > 1 else ()), order="F")
    name = layer_name(path)
    meta = {"format": "NRRD", "space": header.get("space"), "geometry_note": note}

    if vol.ndim == 4 and len(other) == 1 and kinds[other[0]] in COLOR_KINDS and n_extra in (3, 4):
        return [volume_layer(vol, affine, name=name, path=path, rgb=True, metadata=meta)]
    segments = _segments(header, vol.ndim == 4) if vol.dtype.kind in "iu" else {}
    if any(n >= n_extra for n in segments):
        raise NoraReadError(f"{path}: segment layers {sorted(segments)} but the file holds "
                            f"{n_extra} layer(s)")
    if segments:
        layers = []
        for n in sorted(segments):
            table = segments[n]
            labels = vol[..., n] if vol.ndim == 4 else vol
            layers.append(volume_layer(
                labels, affine, name=name if len(segments) == 1 else f"{name} layer {n}",
                path=path, layer_type="labels", metadata={**meta, "segments": table},
                **labeltable.labels_kwargs(table)))
        return layers
    if vol.ndim == 4:
        return [volume_layer((n_extra, lambda t: vol[..., t]), affine, name=name, path=path,
                             metadata=meta)]
    if vol.dtype.kind in "iu":
        table, table_path = labeltable.find_table(path, name)
        if table is not None:
            meta["label_table"] = str(table_path)
            return [volume_layer(vol, affine, name=name, path=path, layer_type="labels",
                                 metadata=meta, **labeltable.labels_kwargs(table))]
        if name.lower().endswith(".seg"):  # a Slicer segmentation without segment keys
            return [volume_layer(vol, affine, name=name, path=path, layer_type="labels",
                                 metadata=meta)]
    return [volume_layer(vol, affine, name=name, path=path, metadata=meta)]
