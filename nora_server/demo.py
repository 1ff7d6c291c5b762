"""A demo archive, filled through the real import pipeline (DICOM -> dcm2niix -> archive).

``build_demo(session)`` writes small DICOM series for a few patients from the real brain MR
that ships inside nibabel (``anatomical.nii``: a T1 of a human head, 33x41x25 voxels of 2 mm)
with pydicom, giving each patient an ID, a name, a birth date and studies with dates and
descriptions, and imports them with :func:`nora_server.dicom.importer.import_path` into the
project ``demo``. The T2-like series are a synthetic contrast computed from the same T1 (said
so in their series description). Offline, a few seconds, and idempotent: a second run finds
every series imported already and adds nothing.

``noractl demo`` runs it; ``napari-nora`` runs it on the embedded default archive it creates
when there is no ``nora.toml``.
"""

from __future__ import annotations

import getpass
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PROJECT = "demo"
#: (PatientID, PatientName, birth date, sex, [(study date, time, description, [series])])
PATIENTS = [
    ("DEMO001", "Doe^Jane", "19700314", "F",
     [("20210503", "091500", "MRI head", ["t1", "t2"]),
      ("20220610", "101000", "MRI head follow-up", ["t1"])]),
    ("DEMO002", "Roe^Richard", "19651102", "M",
     [("20200921", "140500", "MRI head", ["t1", "t2"])]),
    ("DEMO003", "Poe^Edgar", "19820119", "M",
     [("20230207", "083000", "MRI head", ["t1"])]),
    ("DEMO004", "Moe^Anna", "19900730", "F",
     [("20230815", "120000", "MRI brain", ["t1", "t2"])]),
]
SERIES = {"t1": (3, "t1_mprage"), "t2": (4, "t2_synthetic_from_t1")}
AUTOLOAD = {"patterns": [{"pattern": "t1*/s*.nii*", "role": "background"},
                         {"pattern": "t2*/s*.nii*", "role": "overlay"}],
            "layout": None}


def sample_t1() -> tuple[np.ndarray, np.ndarray]:
    """nibabel's real T1 (voxels as native int16, vox2ras affine)."""
    import nibabel as nib

    img = nib.load(Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii")
    return np.asarray(img.dataobj).astype(np.int16), img.affine


def write_series(folder: Path, vol: np.ndarray, affine_vox2ras: np.ndarray, *, patient: tuple,
                 study: tuple, study_uid: str, kind: str) -> None:
    """One DICOM file per slice of ``vol`` (i = column, j = row, k = slice) at its scanner
    position (RAS converted to DICOM's LPS)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    pid, name, birth, sex, _ = patient
    date, time, desc, _ = study
    number, series_desc = SERIES[kind]
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_vox2ras, float)
    col_sp, row_sp = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    iop = np.r_[lps[:3, 0] / col_sp, lps[:3, 1] / row_sp]
    series_uid, frame_uid = generate_uid(), generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(vol.shape[2]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{kind}_{k:03d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = pid, name, birth, sex
        ds.StudyDate, ds.StudyTime, ds.StudyDescription = date, time, desc
        ds.SeriesDate, ds.SeriesTime = date, time
        ds.StudyID, ds.AccessionNumber = "1", f"A{pid[-3:]}{date}"
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber = "MR", series_desc, number
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in (lps @ np.r_[0, 0, k, 1])[:3]]
        ds.PixelSpacing = [f"{row_sp:.6f}", f"{col_sp:.6f}"]
        ds.SliceThickness = f"{np.linalg.norm(lps[:3, 2]):.6f}"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(vol[:, :, k].T.astype("<i2")).tobytes()
        ds.save_as(path, enforce_file_format=True)


def _volume(t1: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """The T1 with a patient's own gain and noise; ``t2``: an inverted-contrast copy."""
    rng = np.random.default_rng(seed)
    vol = t1.astype(np.float32) * (0.85 + 0.3 * rng.random())
    if kind == "t2":
        head = vol > 0.1 * vol.max()
        vol = np.where(head, vol.max() * 1.05 - vol, 0.0)
    vol += rng.normal(0, 0.01 * vol.max(), vol.shape)
    return np.clip(vol, 0, 32000).astype(np.int16)


def write_dicom(folder: Path) -> int:
    """Write every demo series under ``folder``; returns the number of series."""
    from pydicom.uid import generate_uid

    t1, affine = sample_t1()
    n = 0
    for p_idx, patient in enumerate(PATIENTS):
        for s_idx, study in enumerate(patient[4]):
            study_uid = generate_uid()
            for kind in study[3]:
                write_series(folder / patient[0] / f"{s_idx}_{kind}", _volume(t1, kind,
                                                                               10 * p_idx + s_idx),
                             affine, patient=patient, study=study, study_uid=study_uid,
                             kind=kind)
                n += 1
    return n


def build_demo(session, *, project: str = PROJECT, progress=None):
    """Create (if needed) and fill the demo project through the DICOM import pipeline.

    Idempotent: returns None without work when the project already holds every demo study;
    otherwise the :class:`~nora_server.dicom.importer.ImportReport` of the import.
    """
    from nora_server.archive.errors import NotFound
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.importer import import_path

    wanted = sum(len(p[4]) for p in PATIENTS)
    try:
        if session.count_studies(project) >= wanted:
            return None
    except NotFound:
        session.create_project(project, description="demo: real T1 MR (nibabel) imported as "
                                                    "DICOM through dcm2niix")
    with tempfile.TemporaryDirectory(prefix="nora-demo-") as tmp:
        write_dicom(Path(tmp))
        report = import_path(Path(tmp), ArchiveTarget(session, project), progress=progress)
    if report.errors:
        raise RuntimeError("demo import failed: " + "; ".join(f"{f}: {w}"
                                                             for f, w in report.errors[:3]))
    _decorate(session, project)
    log.info("demo project %r: %d series imported", project, len(report.imported))
    return report


def _decorate(session, project: str) -> None:
    """Tags and an autoloader list, so the filter bars and the autoloader have something."""
    from nora_server.archive.errors import NotFound
    from nora_server.desktop.autoload import PREFIX

    for row in session.studies(project):
        if row.description.endswith("follow-up"):
            session.tag(project, row.ref, "follow-up")
        elif row.subject in ("DEMO001", "DEMO003"):
            session.tag(project, row.ref, "control")
    session.tag(project, "DEMO002", "patient")
    try:
        session.document("settings", PREFIX + "QC", project=project)
    except NotFound:
        session.save_document("settings", PREFIX + "QC", AUTOLOAD, project=project)


def init_embedded(path: Path, root: Path, admin: str | None = None):
    """What ``noractl init`` does for the embedded default: SQLite database and storage under
    ``root``, schema at head, ``admin`` (the login name) a site admin, ``nora.toml`` at
    ``path``. Returns the settings."""
    from nora_server.archive.admin import ensure_user
    from nora_server.archive.core import Archive
    from nora_server.archive.db import upgrade
    from nora_server.config import embedded_settings, load_settings, write_settings

    settings = embedded_settings(root)
    settings.storage.mkdir(parents=True, exist_ok=True)
    archive = Archive.from_settings(settings, check=False)
    try:
        upgrade(archive.engine)
        ensure_user(archive.engine, admin or getpass.getuser(), is_admin=True)
    finally:
        archive.dispose()
    write_settings(settings, path)
    return load_settings(path)


def default_root() -> Path:
    """Where the embedded default archive is created on first start:
    ``$XDG_DATA_HOME/nora`` (``~/.local/share/nora``); its ``nora.toml`` records it."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nora"


def ensure_demo(config=None, *, root=None, user: str | None = None, create: bool = True):
    """The settings of ``config`` (default: ``$NORA_CONFIG`` or ``~/.config/nora/nora.toml``).

    When that file does not exist and ``create`` is true, the embedded default is created under
    ``root`` (default :func:`default_root`) and the demo project filled; with ``create`` false,
    None is returned. An existing configuration gets the demo project completed only when it
    has one already (a site's archive is never changed unasked)."""
    from nora_server.archive.core import Archive
    from nora_server.archive.errors import NotFound
    from nora_server.config import default_config_path, load_settings

    path = Path(config) if config else default_config_path()
    created = not path.exists()
    if created and not create:
        return None
    settings = (init_embedded(path, Path(root) if root else default_root(), user)
                if created else load_settings(path))
    archive = Archive.from_settings(settings)
    try:
        try:
            session = archive.session(user)
        except NotFound:  # the desktop says so when it connects
            return settings
        if created or PROJECT in {p.name for p in session.projects()}:
            build_demo(session)
    finally:
        archive.dispose()
    return settings


def noractl_demo(argv: list[str]) -> int:
    """``noractl demo [--config PATH] [--project NAME]``: fill the demo project (site admin);
    ``argv`` starts with ``demo``."""
    import argparse

    from nora_server.cli.common import run

    def main(args) -> int:
        from nora_server.archive.core import Archive
        from nora_server.config import load_settings

        ap = argparse.ArgumentParser(prog="noractl demo", description=__doc__.split("\n")[0])
        ap.add_argument("--config")
        ap.add_argument("--project", default=PROJECT)
        a = ap.parse_args(args)
        archive = Archive.from_settings(load_settings(a.config))
        try:
            report = build_demo(archive.session(), project=a.project)
        finally:
            archive.dispose()
        print(f"project {a.project}: " + ("complete already" if report is None else
                                          f"{len(report.imported)} series imported"))
        return 0

    return run("noractl demo", main, argv[1:])
