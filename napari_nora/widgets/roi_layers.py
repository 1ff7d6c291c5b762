"""ROIs as napari Labels layers: creation from a reference image, geometry, saving.

An ROI layer is a ``uint8`` Labels layer (0 = off, 1 = on) on its reference image's display
grid: same shape, ``scale``, ``translate`` and a copy of the image's geometry metadata, plus
``metadata["nora_roi"] = True`` and the reference's name. The layer's data viewed as ``bool``
is the mask that :class:`napari_nora.roi.History` edits in place, so there is one copy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.layers import Image, Labels
from napari.utils.transforms import Affine

from napari_nora.widgets.desktop_context import ARCHIVE_KEY


#: ROI colours, one per ROI in order of creation (as NORA gives each ROI its own colour)
ROI_COLORS = ("#ff3030", "#30c030", "#3080ff", "#ffd000", "#00d0d0", "#d040d0", "#ff8000",
              "#a0ff60")

ROI_KEY = "nora_roi"
REFERENCE_KEY = "nora_roi_reference"


def is_roi(layer) -> bool:
    return isinstance(layer, Labels) and bool(layer.metadata.get(ROI_KEY))


def roi_layers(viewer) -> list:
    return [layer for layer in viewer.layers if is_roi(layer)]


def image_layers(viewer) -> list:
    return [layer for layer in viewer.layers
            if isinstance(layer, Image) and not layer.rgb and layer.ndim in (3, 4)]


def mask_of(layer) -> np.ndarray:
    """The ROI layer's data as a bool mask (a view: edits show in the layer)."""
    data = layer.data
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise TypeError(f"ROI layer {layer.name!r} must hold a uint8 numpy array")
    return data.view(bool)


def index_to_world(layer) -> np.ndarray:
    """(4, 4) map from a layer's last three array axes to napari world (S, A, R) mm."""
    phys = Affine(scale=layer.scale, translate=layer.translate, rotate=layer.rotate,
                  shear=layer.shear)
    return (layer.affine.affine_matrix @ phys.affine_matrix)[-4:, -4:]


def volume_of(viewer, image) -> np.ndarray:
    """The 3D volume an image layer shows now (the current time point of a 4D series)."""
    if image.ndim == 4:
        t = viewer.dims.current_step[viewer.dims.ndim - 4] if viewer.dims.ndim >= 4 else 0
        return np.asarray(image.data[t])
    return image.data if isinstance(image.data, np.ndarray) else np.asarray(image.data)


def new_roi(viewer, image, *, thresholded: bool = False, name: str | None = None) -> Labels:
    """Add an ROI on the grid of ``image``: empty, or ON where the image is at or above the
    lower limit of its contrast window (NORA's "thresholded" creation)."""
    vol = volume_of(viewer, image)
    if thresholded:
        data = (vol >= image.contrast_limits[0]).view(np.uint8)
    else:
        data = np.zeros(vol.shape, np.uint8)
    meta = {k: v for k, v in image.metadata.items()}
    meta.update({ROI_KEY: True, REFERENCE_KEY: image.name})
    n = len(roi_layers(viewer)) + 1
    color = ROI_COLORS[(n - 1) % len(ROI_COLORS)]
    layer = viewer.add_labels(
        np.ascontiguousarray(data), name=name or f"ROI {n} ({image.name})",
        scale=image.scale[-3:], translate=image.translate[-3:], units=image.units[-3:],
        metadata=meta, opacity=0.5,
        colormap={0: "transparent", 1: color, None: color})
    return layer


def adopt_roi(viewer, layer) -> Labels:
    """Make a Labels layer (an ROI saved earlier and reopened, a segmentation) an ROI: ON where
    its label is not 0. Its grid and metadata stay as they are."""
    if not isinstance(layer, Labels) or layer.ndim != 3:
        raise ValueError(f"{layer.name!r} is not a 3D Labels layer: only those can become ROIs")
    data = np.asarray(layer.data)
    if data.dtype != np.uint8 or data.max(initial=0) > 1 or not data.flags.c_contiguous:
        layer.data = np.ascontiguousarray(data != 0).view(np.uint8)
    layer.metadata[ROI_KEY] = True
    if REFERENCE_KEY not in layer.metadata:
        layer.metadata[REFERENCE_KEY] = None
        ref = reference_of(viewer, layer)
        layer.metadata[REFERENCE_KEY] = ref.name if ref is not None else None
    return layer


def reference_of(viewer, layer):
    """The image an ROI was made from (by name), else any image on the same grid, else None."""
    grid = (layer.data.shape, index_to_world(layer))
    candidates = image_layers(viewer)
    named = [im for im in candidates if im.name == layer.metadata.get(REFERENCE_KEY)]
    for im in named + candidates:
        if im.data.shape[-3:] == grid[0] and np.allclose(index_to_world(im), grid[1]):
            return im
    return None


def centre_of_gravity(layer):
    """World position (S, A, R) of the ROI's centre of gravity, or None when it is empty."""
    idx = np.argwhere(mask_of(layer))
    if idx.size == 0:
        return None
    com = np.append(idx.mean(axis=0), 1.0)
    return (index_to_world(layer) @ com)[:3]


def volume_ml(layer) -> float:
    m = index_to_world(layer)
    return float(np.count_nonzero(layer.data)) * abs(np.linalg.det(m[:3, :3])) / 1000.0


def source_of(layer) -> str:
    """Where an ROI's reference came from, for the ROI list: the archive project and study
    (``demo: P001#S1``), else the DICOM patient/study IDs, else the file name."""
    meta = layer.metadata
    archive = meta.get(ARCHIVE_KEY)
    if isinstance(archive, dict) and archive.get("ref"):
        return f"{archive.get('project')}: {archive['ref']}"
    ids = [str(meta[k]) for k in ("patient_id", "study_id") if meta.get(k)]
    if ids:
        return "/".join(ids)
    if meta.get("source_path"):
        return Path(meta["source_path"]).name
    return "no source"


def describe(layer) -> str:
    """One line for the ROI list: name, matrix, source subject/study, volume."""
    shape = "x".join(str(n) for n in layer.data.shape[::-1])
    return f"{layer.name}  |  {shape}  |  {source_of(layer)}  |  {volume_ml(layer):.2f} mL"


def save_roi(layer, path) -> list[str]:
    """Save an ROI as NIfTI on its reference image's source grid (matrix and affine)."""
    from napari_nora.writers import write_labels

    attributes = {"metadata": layer.metadata, "scale": layer.scale,
                  "translate": layer.translate, "name": layer.name}
    return write_labels(str(path), layer.data, attributes)
