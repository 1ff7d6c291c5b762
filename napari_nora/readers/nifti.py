"""NIfTI-1/2 (``.nii``, ``.nii.gz``, ``.hdr/.img``), with nibabel for the header.

* geometry: sform when its code is set (>0), else qform, as nibabel's ``get_best_affine``;
* 3D ``.nii.gz`` decompress straight into the final array (:mod:`fastgz`); ``.nii`` is
  memory-mapped; 4D series load one volume at a time (time slider);
* scaling applied as float32 only when slope/intercept are not identity;
* RGB24/RGBA32 as RGB images; integer images with a label table beside them (or the NIfTI
  label intent) as Labels layers with names.
"""

from __future__ import annotations

import numpy as np
import nibabel as nib

from napari_nora import geometry
from napari_nora.readers import fastgz, labeltable
from napari_nora.readers.layers import layer_name, volume_layer
from napari_nora.readers.registry import NoraReadError

INTENT_LABEL = 1002


def best_affine(header) -> np.ndarray:
    """vox2ras from sform (code > 0), else qform (code > 0), else the scaled base affine."""
    sform, scode = header.get_sform(coded=True)
    if sform is not None and scode > 0:
        return sform
    qform, qcode = header.get_qform(coded=True)
    if qform is not None and qcode > 0:
        return qform
    return header.get_base_affine()


def _scaling(img, hdr):
    """(slope, intercept): nibabel moves them from a loaded image's header to its data."""
    if img is not None:
        return float(img.dataobj.slope), float(img.dataobj.inter)
    slope, inter = hdr.get_slope_inter()
    return (1.0 if slope is None else float(slope)), (0.0 if inter is None else float(inter))


def _gz_header(path):
    """The header of a ``.nii.gz`` read through isal, or None (then nibabel reads the file).
    nibabel's gzip reader decompresses about 1 MiB to read the 348 bytes (36 ms for a CT
    here): a tenth of what the first slice on screen may take, 7% of reading the CT."""
    from io import BytesIO

    from isal import igzip

    try:
        with igzip.open(path, "rb") as f:
            head = f.read(540)
        for klass in (nib.Nifti1Header, nib.Nifti2Header):
            n = klass.sizeof_hdr
            if len(head) >= n and n in (int.from_bytes(head[:4], "little"),
                                        int.from_bytes(head[:4], "big")):
                # no extensions read (their bytes are in vox_offset); magic checked by nibabel
                hdr = klass.from_fileobj(BytesIO(head[:n] + bytes(4)), check=False)
                return hdr if hdr["magic"] in (b"n+1", b"n+2") else None
    except Exception:  # noqa: BLE001 - nibabel reads it again and says what is wrong
        return None
    return None


def _data_offset(img, hdr) -> int:
    """Where the voxels start in the (decompressed) file."""
    return int(img.dataobj.offset if img is not None else hdr.get_data_offset())


def _nib_load(path):
    try:
        img = nib.load(path)
    except Exception as exc:
        raise NoraReadError(f"{path}: not a readable NIfTI file: {exc}") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image, nib.Nifti1Pair, nib.Nifti2Pair,
                            nib.AnalyzeImage)):
        raise NoraReadError(f"{path}: not a NIfTI image ({type(img).__name__})")
    return img


def _apply_scaling(arr, slope, inter):
    if slope == 1.0 and inter == 0.0:
        return arr
    out = arr.astype(np.float32)
    out *= np.float32(slope)
    out += np.float32(inter)
    return out


def _load_3d(path, img, hdr) -> np.ndarray:
    """The unscaled 3D voxels (``img`` may be None for a ``.nii.gz`` whose header was read)."""
    dtype = hdr.get_data_dtype()
    shape = hdr.get_data_shape()[:3]
    if str(path).lower().endswith(".gz") and dtype.fields is None:
        raw = fastgz.read_into(path, _data_offset(img, hdr), shape, dtype, order="F")
        if not dtype.isnative:
            raw = raw.byteswap().view(dtype.newbyteorder("="))
        return raw
    img = img or _nib_load(path)
    raw = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, "get_unscaled") \
        else np.asanyarray(img.dataobj)
    return raw.reshape(shape, order="F") if raw.ndim > 3 else raw


def _rgb(arr, dtype):
    n = len(dtype.fields)
    return np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape + (n,))


def read(path, *, stream: bool = False) -> list:
    """Read a NIfTI file into one layer.

    With ``stream=True`` (the viewer's path) an axis-aligned, unscaled ``.nii.gz`` image is
    returned while it is still being decompressed; indexing it waits for the slabs it needs
    (:mod:`napari_nora.readers.streamed`), so the first slice is on screen early.
    """
    img = None
    hdr = _gz_header(path) if str(path).lower().endswith(".nii.gz") else None
    if hdr is None:
        img = _nib_load(path)
        hdr = img.header
    affine = best_affine(hdr) if hasattr(hdr, "get_sform") else img.affine
    shape = hdr.get_data_shape()
    dtype = hdr.get_data_dtype()
    name = layer_name(path)
    if len(shape) < 3:
        shape = tuple(shape) + (1,) * (3 - len(shape))
    if any(s == 0 for s in shape):
        raise NoraReadError(f"{path}: empty image (shape {shape})")
    slope, inter = _scaling(img, hdr)
    n_extra = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    meta = {"format": "NIfTI", "header": {"descrip": str(hdr.get("descrip", b""), "latin-1")
                                          if "descrip" in hdr else ""}}

    if n_extra > 1:  # time series: one volume at a time
        proxy = (img or _nib_load(path)).dataobj

        def get_volume(t, _p=proxy):
            idx = np.unravel_index(t, shape[3:], order="F")
            vol = np.asarray(_p[(slice(None),) * 3 + tuple(int(i) for i in idx)])
            if vol.dtype == np.float64 and dtype != np.float64:
                vol = vol.astype(np.float32)
            return vol

        try:
            return [volume_layer((n_extra, get_volume), affine, name=name, path=path,
                                 metadata=meta)]
        except (EOFError, OSError, ValueError) as exc:
            raise NoraReadError(f"{path}: cannot read voxel data: {exc}") from exc

    is_label = False
    if dtype.kind in "iu" and dtype.fields is None and (slope, inter) == (1.0, 0.0):
        table, table_path = labeltable.find_table(path, name)
        intent = int(hdr.get("intent_code", 0)) if "intent_code" in hdr else 0
        is_label = table is not None or intent == INTENT_LABEL
    if (stream and not is_label and dtype.fields is None and (slope, inter) == (1.0, 0.0)
            and dtype.isnative and str(path).lower().endswith(".gz")
            and geometry.is_axis_aligned(affine)):
        streamed = fastgz.StreamedRead(path, _data_offset(img, hdr), shape[:3], dtype)
        return [volume_layer(streamed, affine, name=name, path=path, metadata=meta)]
    try:
        raw = _load_3d(path, img, hdr)
    except Exception as exc:  # noqa: BLE001 - re-said with the file name
        raise NoraReadError(f"{path}: cannot read voxel data: {exc}") from exc
    if dtype.fields is not None:  # RGB24 / RGBA32
        return [volume_layer(_rgb(raw, dtype), affine, name=name, path=path, rgb=True,
                             metadata=meta)]
    data = _apply_scaling(raw, slope, inter)
    if is_label:
        kw = labeltable.labels_kwargs(table) if table else {}
        meta["label_table"] = str(table_path) if table_path else None
        return [volume_layer(data, affine, name=name, path=path, layer_type="labels",
                             metadata=meta, **kw)]
    return [volume_layer(data, affine, name=name, path=path, metadata=meta)]
