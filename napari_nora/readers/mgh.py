"""FreeSurfer MGH/MGZ volumes (``.mgh``, ``.mgz``), with nibabel for the header.

* geometry: the header's vox2ras (nibabel's ``MGHHeader.get_affine``; FreeSurfer's default
  coronal orientation when the header says its geometry is not valid);
* the stored dtype is kept (MGH has no scaling); big-endian data reach napari in native order;
  dcm2niix's little-endian MGH is read too;
* the header is parsed from the first bytes only; ``.mgz`` decompresses once, straight into the
  final array (:mod:`fastgz`; data start at byte 284, Fortran order); ``.mgh`` is
  memory-mapped;
* several frames are a time series (time slider);
* a surface overlay (shape ``(n_vertices, 1, 1[, frames])``, e.g. ``lh.thickness.mgh``) is
  shown on the surface GIFTI beside it with that vertex count (:func:`gifti.find_surface`);
* integer volumes with a label table beside them (e.g. ``aseg.mgz`` with
  ``FreeSurferColorLUT.txt``) are Labels layers with names; for the well-known FreeSurfer
  segmentations the table of ``$FREESURFER_HOME`` is used when none lies beside.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
from nibabel.freesurfer.mghformat import DATA_OFFSET, MGHHeader

from napari_nora.readers import fastgz, gifti, labeltable
from napari_nora.readers.layers import layer_name, surface_layer, volume_layer
from napari_nora.readers.registry import NoraReadError

#: FreeSurfer segmentations that use FreeSurferColorLUT.txt
_FS_SEG = re.compile(r".*(aseg|aparc|wmparc)", re.IGNORECASE)


def _find_table(path, name):
    table, table_path = labeltable.find_table(path, name)
    if table is None and _FS_SEG.match(name) and os.environ.get("FREESURFER_HOME"):
        lut = Path(os.environ["FREESURFER_HOME"]) / "FreeSurferColorLUT.txt"
        if lut.is_file():
            table, table_path = labeltable.read_table(lut), lut
    return table, table_path


def _native(arr):
    return arr if arr.dtype.isnative else arr.byteswap().view(arr.dtype.newbyteorder("="))


def read_header(path):
    """The header of an MGH/MGZ file and the on-disk dtype of its voxels.

    Reads only the first 90 bytes (nibabel's loader decompresses a whole ``.mgz`` to reach the
    footer). FreeSurfer writes big-endian; dcm2niix's ``-e o`` writes little-endian, read too.
    The footer (TR, flip angle, TE, TI) is read for ``.mgh`` only.
    """
    mgz = str(path).lower().endswith(".mgz")
    hdt = MGHHeader._hdrdtype
    with (gzip.open if mgz else open)(path, "rb") as f:
        block = f.read(hdt.itemsize)
    if len(block) < hdt.itemsize:
        raise NoraReadError(f"{path}: file ends inside the MGH header ({len(block)} bytes)")
    little = block[:4] == b"\x01\x00\x00\x00"
    if little:
        block = np.frombuffer(block, hdt.newbyteorder("<")).astype(hdt).tobytes()
    raw = np.frombuffer(block, hdt)[0]
    if raw["version"] != 1:
        raise NoraReadError(f"{path}: not an MGH file (version field {int(raw['version'])})")
    if int(raw["type"]) not in MGHHeader._data_type_codes.value_set():
        raise NoraReadError(f"{path}: unknown MGH voxel type {int(raw['type'])}")
    if np.any(raw["dims"] <= 0):
        raise NoraReadError(f"{path}: empty or invalid dimensions {raw['dims'].tolist()}")
    hdr = MGHHeader(block)
    if not mgz and not little:
        nbytes = int(np.prod(hdr.get_data_shape())) * hdr.get_data_dtype().itemsize
        with open(path, "rb") as f:
            f.seek(DATA_OFFSET + nbytes)
            footer = f.read(MGHHeader._ftrdtype.itemsize)
        if len(footer) == MGHHeader._ftrdtype.itemsize:
            hdr = MGHHeader(block + footer)
    dtype = hdr.get_data_dtype()
    return hdr, (dtype.newbyteorder("<") if little else dtype)


def _load(path, shape, dtype) -> np.ndarray:
    """All voxels in the file's (i, j, k[, frame]) order."""
    if str(path).lower().endswith(".mgz"):
        return _native(fastgz.read_into(path, DATA_OFFSET, shape, dtype, order="F"))
    nbytes = int(np.prod(shape)) * dtype.itemsize
    size = Path(path).stat().st_size
    if size < DATA_OFFSET + nbytes:
        raise EOFError(f"data truncated: expected {nbytes} bytes of voxels, found "
                       f"{max(size - DATA_OFFSET, 0)}")
    # copy-on-write memory map (writable, as Labels need); native byte order per volume later
    return np.memmap(path, dtype=dtype, mode="c", offset=DATA_OFFSET, shape=shape, order="F")


def read(path) -> list:
    """Read an MGH/MGZ file into one layer (Image, Labels, or a time series Image).

    Parameters
    ----------
    path : str or Path
        ``.mgh`` or ``.mgz`` file.

    Returns
    -------
    list of (data, kwargs, layer_type)

    Raises
    ------
    NoraReadError
        When the file is not a readable MGH image; the message names the file.
    """
    try:
        hdr, dtype = read_header(path)
    except NoraReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-said with the file name
        raise NoraReadError(f"{path}: not a readable MGH/MGZ file: {exc}") from exc
    shape = tuple(int(s) for s in hdr.get_data_shape())
    affine = np.asarray(hdr.get_affine(), dtype=float)
    name = layer_name(path)
    meta = {"format": "MGH",
            "header": {k: float(hdr[k]) for k in ("tr", "flip_angle", "te", "ti")},
            "good_ras": bool(hdr["goodRASFlag"])}
    try:
        data = _load(path, shape, dtype)
    except Exception as exc:  # noqa: BLE001 - re-said with the file name
        raise NoraReadError(f"{path}: cannot read voxel data: {exc}") from exc
    if len(shape) >= 3 and shape[0] > 1 and shape[1:3] == (1, 1):
        surf = gifti.find_surface(path, shape[0])
        if surf is not None:  # a vertex overlay on its surface
            verts, faces, smeta = gifti.surface_of(surf, gifti.load_gifti(surf))
            values = np.asarray(data, dtype=np.float32).reshape(shape[0], -1, order="F").T
            meta.update(smeta, surface_path=str(surf))
            values = values[0] if len(values) == 1 else values
            return [surface_layer(verts, faces, name=name, path=path, metadata=meta,
                                  values=values, **gifti.values_kwargs(values))]
    if data.ndim > 3:
        n_frames = int(np.prod(data.shape[3:]))
        frames = data.reshape(data.shape[:3] + (n_frames,), order="F")
        if n_frames > 1:
            return [volume_layer((n_frames, lambda t: frames[..., t]), affine, name=name,
                                 path=path, metadata=meta)]
        data = frames[..., 0]
    if data.dtype.kind in "iu":
        table, table_path = _find_table(path, name)
        if table is not None:
            meta["label_table"] = str(table_path)
            return [volume_layer(data, affine, name=name, path=path, layer_type="labels",
                                 metadata=meta, **labeltable.labels_kwargs(table))]
    return [volume_layer(data, affine, name=name, path=path, metadata=meta)]
