"""GIFTI surfaces and vertex data (``.gii``), with nibabel.

* a surface (a ``POINTSET`` and a ``TRIANGLE`` array) is a Surface layer in RAS mm; the
  pointset's coordinate-system transform is applied when its ``xformspace`` differs from its
  ``dataspace``; other arrays in the same file become vertex values;
* functional, shape and label GIFTI (arrays without a pointset) are vertex values shown on
  their surface: a surface GIFTI in the same folder with the same vertex count, preferring the
  same hemisphere (``lh``/``rh``, ``L``/``R``, ``hemi-L``, ``CortexLeft``...), ``.surf.gii``
  files, and anatomical surfaces (midthickness, white, pial) over inflated or spherical ones;
  several arrays are several time points (``values`` of shape ``(n_t, n_vertices)``);
* label GIFTI: values become indices into a colormap built from the label table; the keys and
  names are kept in ``metadata['labels']`` (``{key: (name, rgba)}``) and
  ``metadata['label_keys']`` (the per-vertex keys).
"""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

import nibabel as nib
import numpy as np

from napari_nora.readers.layers import layer_name, surface_layer
from napari_nora.readers.registry import NoraReadError

POINTSET = nib.nifti1.intent_codes["NIFTI_INTENT_POINTSET"]
TRIANGLE = nib.nifti1.intent_codes["NIFTI_INTENT_TRIANGLE"]
LABEL = nib.nifti1.intent_codes["NIFTI_INTENT_LABEL"]
_POINTSET_TAG = re.compile(rb"<DataArray\b[^>]*NIFTI_INTENT_POINTSET[^>]*>", re.S)
_DIM0 = re.compile(rb'Dim0\s*=\s*"(\d+)"')
#: surface kinds by preference for showing vertex data (lower first)
_KIND_RANK = ("midthickness", "white", "pial", "smoothwm", "graymid")
_KIND_LAST = ("inflated", "sphere", "flat", "very_inflated", "orig")


def hemisphere(name: str, structure: str = "") -> str | None:
    """'L', 'R' or None from a file name (``lh.``, ``.L.``, ``hemi-R``...) or a GIFTI
    ``AnatomicalStructurePrimary`` (``CortexLeft``)."""
    tokens = set(re.split(r"[._\-\s]+", name.lower()))
    if tokens & {"lh", "l", "left"} or "left" in structure.lower():
        return "L"
    if tokens & {"rh", "r", "right"} or "right" in structure.lower():
        return "R"
    return None


def _pointset_info(path):
    """(vertex count, AnatomicalStructurePrimary) of a GIFTI surface, from its XML text only."""
    try:
        text = Path(path).read_bytes()
    except OSError:
        return None, ""
    tag = _POINTSET_TAG.search(text)
    if tag is None:
        return None, ""
    dim = _DIM0.search(tag.group(0))
    m = re.search(rb"AnatomicalStructurePrimary\W*</Name>\s*<Value>\W*(\w+)", text[:20000])
    return (int(dim.group(1)) if dim else None), (m.group(1).decode() if m else "")


def find_surface(path, n_vertices: int, structure: str = ""):
    """The surface GIFTI beside ``path`` with ``n_vertices`` vertices, or None."""
    path = Path(path)
    hemi = hemisphere(path.name, structure)
    found = []
    for cand in sorted(path.parent.glob("*.gii")):
        if cand == path:
            continue
        n, struct = _pointset_info(cand)
        if n != n_vertices:
            continue
        low = cand.name.lower()
        other = hemisphere(cand.name, struct)
        kind = next((i for i, k in enumerate(_KIND_RANK) if k in low),
                    len(_KIND_RANK) + (1 if any(k in low for k in _KIND_LAST) else 0))
        found.append(((0 if hemi and other == hemi else 1 if not (hemi and other) else 2),
                      0 if low.endswith(".surf.gii") else 1, kind, cand.name, cand))
    return min(found)[-1] if found else None


def load_gifti(path):
    try:
        img = nib.load(path)
    except Exception as exc:  # noqa: BLE001 - re-said with the file name
        raise NoraReadError(f"{path}: not a readable GIFTI file: {exc}") from exc
    if not isinstance(img, nib.gifti.GiftiImage):
        raise NoraReadError(f"{path}: not a GIFTI image ({type(img).__name__})")
    return img


def surface_of(path, img):
    """(vertices_ras, faces, metadata) of a surface GIFTI."""
    points = [d for d in img.darrays if d.intent == POINTSET]
    tris = [d for d in img.darrays if d.intent == TRIANGLE]
    if not points or not tris:
        raise NoraReadError(f"{path}: a surface needs a POINTSET and a TRIANGLE array")
    ps = points[0]
    verts = np.asarray(ps.data, dtype=float).reshape(-1, 3)
    faces = np.asarray(tris[0].data).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
        raise NoraReadError(f"{path}: triangles refer to vertices beyond the "
                            f"{len(verts)} in the file")
    cs = ps.coordsys
    meta = {"structure": ps.meta.get("AnatomicalStructurePrimary", "")}
    if cs is not None and cs.xform is not None and cs.dataspace != cs.xformspace:
        xform = np.asarray(cs.xform, dtype=float)
        verts = verts @ xform[:3, :3].T + xform[:3, 3]
        meta["xform_applied"] = xform
    return verts, faces, meta


def _label_colormap(img, keys, name):
    """Per-vertex colormap indices, a napari colormap dict and the table {key: (name, rgba)}."""
    table = {}
    for n, lab in enumerate(img.labeltable.labels):
        rgba = lab.rgba
        if rgba[0] is None or not any(rgba[:3]):  # no colour given: a fixed palette
            rgb = colorsys.hsv_to_rgb((n * 0.618034) % 1.0, 0.65, 0.95)
            rgba = (*rgb, 1.0) if lab.key != 0 else (0.0, 0.0, 0.0, 1.0)
        table[int(lab.key)] = (str(lab.label), [float(c) for c in rgba[:3]] + [1.0])
    for k in np.unique(keys):
        table.setdefault(int(k), (str(int(k)), [0.5, 0.5, 0.5, 1.0]))
    ordered = sorted(table)
    index = np.searchsorted(ordered, keys).astype(np.float32) + 0.5
    n = len(ordered)
    colors = [table[k][1] for k in ordered]
    controls = np.linspace(0.0, 1.0, n + 1).tolist()
    cmap = {"colors": colors, "controls": controls, "interpolation": "zero",
            "name": f"{name} labels"}
    return index, cmap, (0.0, float(n)), table


def _values(img, skip=(POINTSET, TRIANGLE)):
    """Vertex data arrays stacked as (n_t, n_vertices) (or (n_vertices,) for one), or None."""
    arrays = [np.asarray(d.data) for d in img.darrays if d.intent not in skip]
    if not arrays:
        return None, False
    cols = [a.reshape(len(a), -1).T for a in arrays]  # each (k, n_vertices)
    if len({c.shape[1] for c in cols}) != 1:
        raise NoraReadError("data arrays of different lengths")
    vals = np.concatenate(cols, axis=0)
    is_label = any(d.intent == LABEL for d in img.darrays)
    return (vals[0] if len(vals) == 1 else vals), is_label


#: colormap of vertex values (thickness, curvature, statistics): grey on a grey mesh hides them
VALUES_COLORMAP = "viridis"


def values_kwargs(values) -> dict:
    """Surface layer kwargs for vertex values: a colour map and robust (2-98 %) limits."""
    kwargs = {"colormap": VALUES_COLORMAP}
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size:
        lo, hi = np.percentile(finite, [2, 98])
        kwargs["contrast_limits"] = (float(lo), float(hi) if hi > lo else float(lo) + 1)
    return kwargs


def read(path) -> list:
    """Read a GIFTI surface, or GIFTI vertex data shown on the surface beside it.

    Parameters
    ----------
    path : str or Path
        ``.gii`` file (``.surf.gii``, ``.func.gii``, ``.shape.gii``, ``.label.gii``...).

    Returns
    -------
    list of (data, kwargs, layer_type)
        One Surface layer, with vertex values when the file holds data arrays.

    Raises
    ------
    NoraReadError
        When the file cannot be read, or vertex data has no surface beside it.
    """
    img = load_gifti(path)
    name = layer_name(path)
    if not img.darrays:
        raise NoraReadError(f"{path}: the GIFTI file holds no data arrays")
    try:
        values, is_label = _values(img)
    except NoraReadError as exc:
        raise NoraReadError(f"{path}: {exc}") from None
    meta = {"format": "GIFTI"}
    if any(d.intent == POINTSET for d in img.darrays):
        verts, faces, smeta = surface_of(path, img)
        meta.update(smeta)
    else:
        n = values.shape[-1]
        structure = img.meta.get("AnatomicalStructurePrimary", "") if img.meta else ""
        surf_path = find_surface(path, n, structure)
        if surf_path is None:
            raise NoraReadError(
                f"{path}: vertex data for {n} vertices but no surface GIFTI with {n} vertices "
                f"in {Path(path).parent}; put its surface (e.g. lh.white.surf.gii) beside it")
        verts, faces, smeta = surface_of(surf_path, load_gifti(surf_path))
        meta.update(smeta, surface_path=str(surf_path))
    if values is not None and values.shape[-1] != len(verts):
        raise NoraReadError(f"{path}: {values.shape[-1]} vertex values for a surface of "
                            f"{len(verts)} vertices")
    kwargs = {}
    if values is not None and is_label:
        values, cmap, limits, table = _label_colormap(img, values, name)
        meta.update(labels=table, label_keys=np.asarray(img.darrays[0].data))
        kwargs.update(colormap=cmap, contrast_limits=limits)
    elif values is not None:
        values = values.astype(np.float32) if values.dtype != np.float32 else values
        kwargs.update(values_kwargs(values))
    return [surface_layer(verts, faces, name=name, path=path, values=values, metadata=meta,
                          **kwargs)]
