"""Writers (npe2 single-layer writers): ``writer(path, data, attributes) -> [path]``.

* Labels go back onto the grid of the image they were read or drawn on: the source's own
  matrix and affine (exact for axis-aligned grids; centre sampling for oblique ones).
* Images are written on their display grid with its true affine.
* Points are written as a JSON point set in RAS mm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from napari_nora import geometry
from napari_nora.geometry import DisplayGeometry


def _disp2ras_from_attributes(attributes, ndim_spatial=3) -> np.ndarray:
    """(4, 4) display index (z, y, x) -> RAS from napari layer attributes."""
    from napari.utils.transforms import Affine

    n = ndim_spatial
    scale = np.asarray(attributes.get("scale", np.ones(n)), float)[-n:]
    translate = np.asarray(attributes.get("translate", np.zeros(n)), float)[-n:]
    tf = Affine(scale=scale, translate=translate,
                rotate=np.asarray(attributes.get("rotate", np.eye(n)))[-n:, -n:],
                shear=np.asarray(attributes.get("shear", np.zeros(n * (n - 1) // 2)))[-(n * (n - 1) // 2):])
    aff = attributes.get("affine")
    if aff is not None:
        aff = np.asarray(aff, float)
        tf = Affine(affine_matrix=aff[-n - 1:, -n - 1:]).compose(tf)
    m_sar = tf.affine_matrix  # (z,y,x) -> (S,A,R)
    rev = np.eye(4)[[2, 1, 0, 3]]  # swaps (S,A,R) <-> (R,A,S)
    return rev @ m_sar


def _matching_source_metadata(attributes, shape_disp) -> dict:
    """Metadata of an open image whose display grid this layer shares (napari's "new labels"
    copies an image's scale and translate, not its metadata)."""
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # noqa: BLE001 - no napari, no viewer: nothing to match
        return {}
    if viewer is None:
        return {}
    scale = np.asarray(attributes.get("scale", ()), float)[-3:]
    translate = np.asarray(attributes.get("translate", ()), float)[-3:]
    for layer in viewer.layers:
        meta = getattr(layer, "metadata", {}) or {}
        if ("disp2vox" in meta and tuple(layer.data.shape[-3:]) == tuple(shape_disp)
                and np.allclose(layer.scale[-3:], scale) and np.allclose(layer.translate[-3:], translate)):
            return meta
    return {}


def _source_geometry(attributes, shape_disp):
    meta = attributes.get("metadata") or {}
    if "disp2vox" not in meta:
        meta = _matching_source_metadata(attributes, shape_disp)
    if "disp2vox" in meta and "affine_vox2ras" in meta and "source_shape" in meta:
        geom = DisplayGeometry(np.asarray(meta["disp2vox"]), np.asarray(meta["disp2ras"]),
                               tuple(shape_disp), bool(meta.get("oblique", False)))
        return geom, np.asarray(meta["affine_vox2ras"]), tuple(meta["source_shape"])
    disp2ras = _disp2ras_from_attributes(attributes)
    # write in NIfTI's usual order: voxel i along the last display axis (R)
    disp2vox = np.eye(4)[[2, 1, 0, 3]]
    geom = DisplayGeometry(disp2vox, disp2ras, tuple(shape_disp), oblique=False)
    return geom, disp2ras @ disp2vox, tuple(shape_disp[::-1])


def _atomic_save(img, path) -> str:
    path = str(path)
    suffix = ".nii.gz" if path.lower().endswith(".gz") else ".nii"
    tmp = f"{path}.part{os.getpid()}{suffix}"
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _nifti(data_vox, affine, *, intent_label=False):
    img = nib.Nifti1Image(data_vox, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    if intent_label:
        img.header.set_intent("label")
    return img


def _labels_on_source(path: str, data, attributes: dict, fmt: str):
    """(labels on the source image's own grid in the smallest integer type, its RAS affine)."""
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"{path}: only 3D label volumes can be saved as {fmt} (got {data.ndim}D)")
    geom, affine, shape_vox = _source_geometry(attributes, data.shape)
    vox = geometry.labels_to_source(data, geom, shape_vox)
    lo, hi = (int(vox.min()), int(vox.max())) if vox.size else (0, 0)
    dtype = np.uint8 if 0 <= lo and hi < 256 else (np.int16 if hi < 32768 else np.int32)
    return vox.astype(dtype, copy=False), affine


def write_labels(path: str, data, attributes: dict) -> list[str]:
    """Save a Labels layer as NIfTI on its source image's own grid (matrix and affine)."""
    vox, affine = _labels_on_source(path, data, attributes, "NIfTI")
    return [_atomic_save(_nifti(vox, affine, intent_label=True), path)]


def write_labels_nrrd(path: str, data, attributes: dict, *, segment: str | None = None,
                      color=(0.9, 0.3, 0.2)) -> list[str]:
    """Save a Labels layer (an ROI) as NRRD on its source grid, in LPS as 3D Slicer writes it.

    With ``segment`` (a name) the file is a Slicer segmentation (``.seg.nrrd``): label 1 is a
    segment of that name and colour, which Slicer and our NRRD reader show by name.
    """
    import nrrd as pynrrd

    vox, affine = _labels_on_source(path, data, attributes, "NRRD")
    lps = geometry.LPS_TO_RAS @ affine  # the same diagonal takes RAS back to LPS
    header = {"space": "left-posterior-superior", "kinds": ["domain"] * 3,
              "space directions": lps[:3, :3].T, "space origin": lps[:3, 3],
              "encoding": "gzip"}
    if segment is not None:
        nz = np.argwhere(vox == 1)
        extent = (" ".join(f"{lo} {hi}" for lo, hi in zip(nz.min(0), nz.max(0)))
                  if len(nz) else "0 -1 0 -1 0 -1")
        header.update({
            "Segmentation_MasterRepresentation": "Binary labelmap",
            "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
            "Segment0_ID": "Segment_1", "Segment0_Name": str(segment),
            "Segment0_NameAutoGenerated": "0",
            "Segment0_Color": " ".join(f"{c:g}" for c in color[:3]),
            "Segment0_ColorAutoGenerated": "0", "Segment0_LabelValue": "1",
            "Segment0_Layer": "0", "Segment0_Extent": extent, "Segment0_Tags": "|"})
    tmp = f"{path}.part{os.getpid()}.nrrd"
    try:
        pynrrd.write(tmp, np.ascontiguousarray(vox), header, index_order="F")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return [str(path)]


def write_image(path: str, data, attributes: dict) -> list[str]:
    """Save an Image layer as NIfTI: the source orientation when axis-aligned, else the display
    grid with its exact affine."""
    data = np.asarray(data)
    if data.ndim != 3 or attributes.get("rgb"):
        raise ValueError(f"{path}: only 3D grey-value images can be saved as NIfTI here")
    geom, affine, shape_vox = _source_geometry(attributes, data.shape)
    if geom.oblique:
        disp2vox = np.eye(4)[[2, 1, 0, 3]]
        vox, affine = np.transpose(data, (2, 1, 0)), geom.disp2ras @ disp2vox
    else:
        vox = geometry.labels_to_source(data, geom, shape_vox)
    return [_atomic_save(_nifti(np.ascontiguousarray(vox), affine), path)]


def points_ras(data, attributes) -> np.ndarray:
    """Points layer data to (N, 3) RAS mm."""
    data = np.asarray(data, float)
    disp2ras = _disp2ras_from_attributes(attributes, ndim_spatial=3)
    homog = np.c_[data[:, -3:], np.ones(len(data))]
    return (homog @ disp2ras.T)[:, :3]


def write_points(path: str, data, attributes: dict) -> list[str]:
    """Save a Points layer as a JSON point set in RAS mm."""
    ras = points_ras(data, attributes) if len(data) else np.zeros((0, 3))
    feats = attributes.get("features")
    labels = None
    if feats is not None and len(feats) == len(ras) and "label" in getattr(feats, "columns", []):
        labels = [str(v) for v in feats["label"]]
    doc = {
        "type": "pointset",
        "space": "RAS",
        "units": "mm",
        "name": attributes.get("name", Path(path).stem),
        "points": [
            {"position": [round(float(v), 6) for v in p], **({"label": labels[i]} if labels else {})}
            for i, p in enumerate(ras)
        ],
    }
    tmp = f"{path}.part{os.getpid()}"
    Path(tmp).write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return [str(path)]
