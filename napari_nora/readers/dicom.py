"""DICOM: one file, a folder (recursively, one layer per series) or a ``.zip``.

Headers are read first (``stop_before_pixels``) to group frames into volumes
(:mod:`dicom_stacks`); pixels are read after, file by file. The volume is indexed
``(i, j, k)`` = (column, row, slice along the normal) and its voxel-to-LPS affine is converted
to RAS here, once. Rescale slope/intercept are applied: the stored integer dtype is kept when
they are identity, an exact integer type when the slope is 1 and the intercepts are integers
(CT Hounsfield units stay int16), float32 otherwise.

Files that are not DICOM images, or whose pixels cannot be decoded, are logged and listed in
every layer's ``metadata['skipped']``; they are fatal only when nothing readable is left.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
from pydicom.errors import InvalidDicomError

from napari_nora import geometry
from napari_nora.readers.dicom_frames import frames_of
from napari_nora.readers.dicom_sources import Source, folder_sources, zip_sources
from napari_nora.readers.dicom_stacks import build_stacks
from napari_nora.readers.layers import layer_name, volume_layer
from napari_nora.readers.registry import NoraReadError

logger = logging.getLogger(__name__)

#: header keywords copied into ``metadata['dicom']`` (as text)
HEADER_KEYS = (
    "Modality", "SOPClassUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyID", "StudyDate", "StudyTime", "StudyDescription",
    "AccessionNumber", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "ProtocolName",
    "SeriesDate", "SeriesTime", "FrameOfReferenceUID", "Manufacturer",
    "ManufacturerModelName", "MagneticFieldStrength", "BodyPartExamined", "ImageType",
    "ScanningSequence", "SequenceName", "RepetitionTime", "EchoTime", "InversionTime",
    "FlipAngle", "KVP", "ConvolutionKernel", "PhotometricInterpretation", "RescaleType",
)


def _scan(sources) -> tuple[list, list]:
    frames, skipped = [], []
    for src in sources:
        try:
            frames += frames_of(src.read(stop_before_pixels=True), src)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not fatal
            skipped.append({"file": src.name, "reason": _reason(exc)})
    return frames, skipped


def _reason(exc) -> str:
    if isinstance(exc, InvalidDicomError):
        return "not a DICOM file (no 'DICM' marker, no DICOM header)"
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    return f"{type(exc).__name__}: {text}"[:400]


class _Pixels:
    """Reads pixels frame by frame; a multi-frame file is decoded once and kept while its
    frames are used (single-frame files are not kept: no second copy of the volume)."""

    def __init__(self):
        self._multi: dict[str, np.ndarray] = {}

    def frame(self, fr) -> np.ndarray:
        if fr.index is None:
            return fr.source.read(stop_before_pixels=False).pixel_array
        key = fr.source.name
        if key not in self._multi:
            self._multi[key] = fr.source.read(stop_before_pixels=False).pixel_array
        return self._multi[key][fr.index]

    def forget(self):
        self._multi.clear()


def _scaled_dtype(raw_dtype, frames, lo, hi):
    """Smallest exact dtype for the rescaled values, or float32."""
    slopes = {f.slope for f in frames}
    inters = {f.intercept for f in frames}
    if slopes == {1.0} and all(float(i).is_integer() for i in inters) and raw_dtype.kind in "iu":
        lo2, hi2 = lo + min(inters), hi + max(inters)
        for dt in (raw_dtype, np.dtype(np.int16), np.dtype(np.int32)):
            info = np.iinfo(dt)
            if info.min <= lo2 and hi2 <= info.max:
                return dt
    return np.dtype(np.float32)


def _load(stack, pixels, skipped) -> tuple[np.ndarray | None, list]:
    """Voxels of a stack as ``(t, k, rows, cols[, samples])``, rescaled; or ``None`` and the
    frames whose pixels could not be read (recorded in ``skipped``)."""
    flat = [f for sl in stack.frames for f in sl]
    gaps = [k for k, sl in enumerate(stack.frames) if not sl]
    raw, bad = None, []
    for k, sl in enumerate(stack.frames):
        for t, fr in enumerate(sl):
            try:
                px = pixels.frame(fr)
                if raw is None:
                    alloc = np.zeros if gaps else np.empty
                    raw = alloc((stack.n_volumes, len(stack.frames)) + px.shape, px.dtype)
                elif not np.can_cast(px.dtype, raw.dtype):  # e.g. int16 and uint16 files
                    raw = raw.astype(np.result_type(raw.dtype, px.dtype))
                raw[t, k] = px
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the series
                skipped.append({"file": fr.source.name, "reason": _reason(exc)})
                bad.append(fr)
    if bad:
        return None, bad
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    if raw.dtype == np.float64:  # Double Float Pixel Data: float32 is plenty for display
        raw = raw.astype(np.float32)
    if {f.slope for f in flat} == {1.0} and {f.intercept for f in flat} == {0.0}:
        return _fill(raw, gaps), []
    integer = raw.dtype.kind in "iu"
    dtype = _scaled_dtype(raw.dtype, flat, int(raw.min()) if integer else 0,
                          int(raw.max()) if integer else 0)
    out = raw if dtype == raw.dtype else raw.astype(dtype)
    del raw
    for k, sl in enumerate(stack.frames):
        for t, fr in enumerate(sl):
            if dtype.kind == "f":
                out[t, k] *= np.float32(fr.slope)
                out[t, k] += np.float32(fr.intercept)
            elif fr.intercept:
                out[t, k] += out.dtype.type(fr.intercept)
    return _fill(out, gaps), []


def _fill(vol, gaps):
    """Missing slices take the lowest value of the others (background, air in CT)."""
    if gaps:
        present = [k for k in range(vol.shape[1]) if k not in set(gaps)]
        low = min(vol[:, k].min() for k in present)
        vol[:, gaps] = low
    return vol


def _name(header, label, fallback) -> str:
    desc = str(header.get("SeriesDescription", "") or header.get("ProtocolName", "") or "").strip()
    num = header.get("SeriesNumber", None)
    num = "" if num in (None, "") else str(num)
    if desc:
        name = f"{desc} ({num})" if num else desc
    elif num:
        name = f"{header.get('Modality', 'DICOM') or 'DICOM'} series {num}"
    else:
        name = fallback
    return f"{name} {label}".strip()


def _metadata(stack, skipped) -> dict:
    first = stack.frames[0][0]
    h = first.header
    dicom = {k: str(h.get(k)) for k in HEADER_KEYS if h.get(k) not in (None, "")}
    slope = sorted({f.slope for sl in stack.frames for f in sl})
    inter = sorted({f.intercept for sl in stack.frames for f in sl})
    files = sorted({f.source.name for sl in stack.frames for f in sl})
    return {
        "format": "DICOM",
        "modality": dicom.get("Modality"),
        "series_uid": dicom.get("SeriesInstanceUID"),
        "study_uid": dicom.get("StudyInstanceUID"),
        "patient_id": dicom.get("PatientID"),
        "study_id": dicom.get("StudyID"),
        "series_number": dicom.get("SeriesNumber"),
        "series_description": dicom.get("SeriesDescription"),
        "dicom": dicom,
        "rescale": {"slope": slope, "intercept": inter},
        "n_volumes": stack.n_volumes,
        "files": files,
        "notes": list(stack.notes),
        "skipped": list(skipped),
    }


def _layers(frames, skipped, fallback_name, where) -> list:
    stacks, problems = build_stacks(frames)
    pixels = _Pixels()
    ready = []
    while stacks:
        stack = stacks.pop(0)
        vol, bad = _load(stack, pixels, skipped)
        pixels.forget()
        if bad:  # rebuild the series without the unreadable files
            names = {f.source.name for f in bad}
            flat = [f for sl in stack.frames for f in sl]
            s, p = build_stacks([f for f in flat if f.source.name not in names])
            stacks[:0] = s
            problems += p
            continue
        ready.append((stack, vol))
    for frs, reason in problems:
        skipped += [{"file": n, "reason": reason} for n in sorted({f.source.name for f in frs})]
    if skipped:
        listed = "; ".join(f"{s['file']}: {s['reason']}" for s in skipped[:10])
        more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
        logger.warning("%s: %d file(s) skipped: %s%s", where, len(skipped), listed, more)
    if not ready:
        reasons = "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in skipped[:5])
        raise NoraReadError(f"{where}: no readable DICOM image"
                            + (f" ({len(skipped)} file(s) skipped: {reasons})" if skipped else
                               " (no files)"))
    out = []
    for stack, vol in ready:
        meta = _metadata(stack, skipped)
        affine = geometry.lps_to_ras(stack.affine_vox2lps)
        name = _name(stack.frames[0][0].header, stack.label, fallback_name)
        for note in stack.notes:
            logger.warning("%s: %s: %s", where, name, note)
        rgb = vol.ndim == 5
        if rgb and vol.shape[0] > 1:
            meta["notes"].append(f"colour series with {vol.shape[0]} volumes: first one shown")
            vol = vol[:1]
        kwargs = {}
        if str(stack.frames[0][0].header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
            kwargs["colormap"] = "gray_r"  # MONOCHROME1: low values are shown bright
        # (t, k, rows, cols[, c]) -> (i, j, k[, c]) per volume, as views
        perm = (2, 1, 0, 3) if rgb else (2, 1, 0)
        if vol.shape[0] == 1:
            data = vol[0].transpose(perm)
        else:
            data = (vol.shape[0], lambda t, _v=vol, _p=perm: _v[t].transpose(_p))
        out.append(volume_layer(data, affine, name=name, path=where, rgb=rgb, metadata=meta,
                                **kwargs))
    return out


def read(path) -> list:
    """Read a DICOM file, a folder of DICOM files (recursively) or a ``.zip`` of them.

    Returns
    -------
    list of layer data tuples
        One image layer per series (and per echo / geometry when a series holds several),
        with the RAS-mm transform and the DICOM header summary in ``metadata``.

    Raises
    ------
    NoraReadError
        When no readable DICOM image is found (the message names the input and lists the
        reasons), or a zip member would escape its folder.
    """
    p = Path(path)
    fallback = layer_name(p)
    if p.is_dir():
        frames, skipped = _scan(folder_sources(p))
        return _layers(frames, skipped, fallback, str(p))
    if zipfile.is_zipfile(p) and p.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                frames, skipped = _scan(zip_sources(zf, p))
                return _layers(frames, skipped, fallback, str(p))
        except zipfile.BadZipFile as exc:
            raise NoraReadError(f"{p}: damaged zip archive: {exc}") from exc
    src = Source(name=str(p), path=str(p))
    try:
        header = src.read(stop_before_pixels=True)
        frames = frames_of(header, src)
    except Exception as exc:  # noqa: BLE001 - re-said with the file name
        raise NoraReadError(f"{p}: not a readable DICOM image: {_reason(exc)}") from exc
    return _layers(frames, [], fallback, str(p))
