"""From a DICOM header to its image frames, each with its own geometry and scaling.

A classic file holds one frame; an enhanced multi-frame object (Enhanced CT/MR/PET, ...)
holds many, each described by its per-frame functional groups (falling back to the shared
groups, then to the top-level attributes): ``PlanePositionSequence``,
``PlaneOrientationSequence``, ``PixelMeasuresSequence``, ``PixelValueTransformationSequence``,
``FrameContentSequence`` and ``MREchoSequence``. Classic multi-frame objects with a
``GridFrameOffsetVector`` (RT dose, some NM) get their frame positions from it.

All positions and directions stay in DICOM's LPS here; the reader converts to RAS once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.multival import MultiValue


@dataclass
class Frame:
    """One 2D image: where it is (LPS mm), how to scale it, and how to tell it from others
    at the same position (echo, acquisition, time)."""

    source: object  # dicom_sources.Source
    index: int | None  # frame number inside a multi-frame object, None for a classic file
    header: pydicom.Dataset  # the file's header (no pixels), shared by its frames
    series_uid: str
    shape: tuple[int, int, int]  # rows, columns, samples per pixel
    position: np.ndarray | None  # ImagePositionPatient (LPS mm)
    orientation: np.ndarray | None  # ImageOrientationPatient: row direction, column direction
    spacing: tuple[float, float] | None  # PixelSpacing: between rows, between columns
    thickness: float | None
    slope: float
    intercept: float
    echo: float | None
    acquisition: float | None
    time_key: tuple

    @property
    def has_geometry(self) -> bool:
        return self.position is not None and self.orientation is not None


def _floats(value, n=None):
    if value is None or value == "":
        return None
    try:
        seq = value if isinstance(value, (list, tuple, MultiValue)) else [value]
        out = [float(v) for v in seq]
    except (TypeError, ValueError):
        return None
    if n is not None and len(out) != n:
        return None
    return out


def _positive(values):
    """``values`` when all are > 0 (a spacing), else None."""
    return values if values is not None and all(v > 0 for v in values) else None


def _num(value):
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _in_group(groups, seq: str, keyword: str):
    """``keyword`` from the first item of ``seq`` in the first group that has it."""
    for g in groups:
        if g is not None and seq in g and len(g[seq].value):
            item = g[seq].value[0]
            if keyword in item:
                return item[keyword].value
    return None


def _thickness(ds) -> float | None:
    """Slice spacing a single slice is given: SpacingBetweenSlices, else SliceThickness."""
    if ds is None:
        return None
    for kw in ("SpacingBetweenSlices", "SliceThickness"):
        v = _num(ds.get(kw))
        if v is not None and v > 0:
            return v
    return None


def _time_key(*values) -> tuple:
    return tuple(-np.inf if v is None else v for v in map(_num, values))


def frames_of(header: pydicom.Dataset, source) -> list[Frame]:
    """The image frames of one DICOM header (read with ``stop_before_pixels``).

    Raises
    ------
    ValueError
        When the header describes no image (no Rows/Columns: a report, a plan, a DICOMDIR).
    """
    if "Rows" not in header or "Columns" not in header:
        meta = getattr(header, "file_meta", None)
        sop = header.get("SOPClassUID", None) or (meta or {}).get("MediaStorageSOPClassUID")
        what = getattr(sop, "name", None) or str(sop or "unknown object")
        raise ValueError(f"not an image: no Rows/Columns in this DICOM object ({what})")
    shape = (int(header.Rows), int(header.Columns), int(header.get("SamplesPerPixel", 1) or 1))
    series_uid = str(header.get("SeriesInstanceUID", "") or f"no-series-uid:{source.name}")
    n_frames = int(_num(header.get("NumberOfFrames", 1)) or 1)
    per_frame = header.get("PerFrameFunctionalGroupsSequence", None)
    shared = header.get("SharedFunctionalGroupsSequence", None)
    shared = shared[0] if shared is not None and len(shared) else None
    top = dict(
        position=_floats(header.get("ImagePositionPatient"), 3),
        orientation=_floats(header.get("ImageOrientationPatient"), 6),
        spacing=(_positive(_floats(header.get("PixelSpacing"), 2))
                 or _positive(_floats(header.get("ImagerPixelSpacing"), 2))),
        thickness=_thickness(header),
        slope=_num(header.get("RescaleSlope")) or _num(header.get("DoseGridScaling")),
        intercept=_num(header.get("RescaleIntercept")),
        echo=_num(header.get("EchoNumbers")),
    )
    offsets = _floats(header.get("GridFrameOffsetVector"))
    frames = []
    for f in range(n_frames):
        item = per_frame[f] if per_frame is not None and f < len(per_frame) else None
        groups = (item, shared)

        def get(seq, kw, _g=groups):
            return _in_group(_g, seq, kw)

        position = (_floats(get("PlanePositionSequence", "ImagePositionPatient"), 3)
                    or top["position"])
        orientation = (_floats(get("PlaneOrientationSequence", "ImageOrientationPatient"), 6)
                       or top["orientation"])
        if (offsets and len(offsets) == n_frames and position and orientation
                and per_frame is None):
            normal = np.cross(orientation[:3], orientation[3:])
            # relative offsets start at 0; absolute ones (axial only) start at the IPP's z
            position = list(np.asarray(position) + (offsets[f] - offsets[0]) * normal)
        spacing = (_positive(_floats(get("PixelMeasuresSequence", "PixelSpacing"), 2))
                   or top["spacing"])
        measures = [g.PixelMeasuresSequence[0] for g in groups
                    if g is not None and len(g.get("PixelMeasuresSequence", []))]
        thickness = next(filter(None, map(_thickness, measures)), None) or top["thickness"]
        slope = _num(get("PixelValueTransformationSequence", "RescaleSlope"))
        intercept = _num(get("PixelValueTransformationSequence", "RescaleIntercept"))
        slope = slope if slope is not None else top["slope"]
        intercept = intercept if intercept is not None else top["intercept"]
        echo = _num(get("MREchoSequence", "EffectiveEchoTime"))
        temporal = get("FrameContentSequence", "TemporalPositionIndex")
        frames.append(Frame(
            source=source,
            index=f if n_frames > 1 else None,
            header=header,
            series_uid=series_uid,
            shape=shape,
            position=None if position is None else np.asarray(position, float),
            orientation=None if orientation is None else np.asarray(orientation, float),
            spacing=None if spacing is None else (spacing[0], spacing[1]),
            thickness=thickness,
            slope=1.0 if slope in (None, 0.0) else slope,
            intercept=0.0 if intercept is None else intercept,
            echo=echo if echo is not None else top["echo"],
            acquisition=_num(header.get("AcquisitionNumber")),
            time_key=_time_key(
                temporal if temporal is not None else header.get("TemporalPositionIdentifier"),
                header.get("AcquisitionNumber"), header.get("TriggerTime"),
                header.get("AcquisitionTime"), header.get("InstanceNumber"), f),
        ))
    return frames
