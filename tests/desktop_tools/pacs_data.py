"""Synthetic patients for the test PACS: known names, IDs, dates, modalities and series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import make_affine, write_dicom_series

#: patients in the test PACS: (name, id, birth, study date, description, modality, series)
PACS_PATIENTS = [
    ("Doe^John", "PID-DOE1", "19700101", "20240315", "MRI head", "MR",
     [("T1 MPRAGE", 6), ("FLAIR", 4)]),
    ("Doe^Jane", "PID-DOE2", "19800202", "20230110", "CT head", "CT", [("CT axial", 5)]),
    ("Smith^Anna", "PID-SMI1", "19900303", "20240320", "MRI spine", "MR", [("T2 sag", 4)]),
]
LOAD_PATIENTS = 200  # "Load^P0000".. : one single-image study each, for the large C-FIND


def write_study(folder: Path, name, pid, birth, date, desc, modality, series, *, number=0):
    """One study of ``series`` [(description, slices)] with the given patient and study tags."""
    import pydicom
    from pydicom.uid import generate_uid

    study_uid = generate_uid()
    files = []
    for k, (sdesc, slices) in enumerate(series, 1):
        vol = (np.arange(16 * 16 * slices).reshape(16, 16, slices) % 97).astype(np.int16)
        out = write_dicom_series(folder / f"{number}_{k}", vol, make_affine(zooms=(1, 1, 2)),
                                 description=sdesc, modality=modality, shuffle=False)
        for f in sorted(out.iterdir()):
            ds = pydicom.dcmread(f)
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, pid, birth
            ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = study_uid, date, "101500"
            ds.StudyDescription, ds.AccessionNumber, ds.SeriesNumber = desc, f"A{number}", k
            ds.StudyID = str(number)
            ds.save_as(f)
            files.append(f)
    return study_uid, files


def load_studies(folder: Path, n: int) -> list[Path]:
    """``n`` one-image studies of patients ``Load^P0000``.. (a template re-tagged: fast)."""
    import pydicom
    from pydicom.uid import generate_uid

    _, (template,) = write_study(folder, "Load^P", "LOAD", "19600101", "19990101", "load", "OT",
                                 [("one", 1)], number=100)
    ds = pydicom.dcmread(template)
    out = []
    for k in range(n):
        ds.PatientName, ds.PatientID = f"Load^P{k:04d}", f"LOAD{k:04d}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"load{k:04d}.dcm"
        ds.save_as(path)
        out.append(path)
    template.unlink()
    return out
