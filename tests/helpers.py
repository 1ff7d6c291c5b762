"""Synthetic data with known geometry, shared by the tests."""

from __future__ import annotations

import numpy as np


def rotation(ax_deg=0.0, ay_deg=0.0, az_deg=0.0) -> np.ndarray:
    a, b, c = np.deg2rad([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def make_affine(*, zooms=(1.0, 1.0, 1.0), perm=(0, 1, 2), flips=(1, 1, 1), rot=None,
                origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """vox2ras: voxel axis ``v`` runs along RAS axis ``perm[v]`` with sign ``flips[v]``,
    optionally rotated (oblique)."""
    m = np.zeros((3, 3))
    for v in range(3):
        m[perm[v], v] = flips[v] * zooms[v]
    if rot is not None:
        m = rot @ m
    aff = np.eye(4)
    aff[:3, :3] = m
    aff[:3, 3] = origin
    return aff


#: affines covering the geometry contract: plain, permuted, flipped, LPS-like, oblique
AFFINES = {
    "ras": make_affine(zooms=(1.0, 1.2, 2.5), origin=(-10, -20, -30)),
    "lps": make_affine(zooms=(0.9, 0.9, 3.0), flips=(-1, -1, 1), origin=(50, 60, -40)),
    "sagittal_permuted": make_affine(zooms=(1.1, 1.0, 4.0), perm=(1, 2, 0), flips=(1, -1, 1),
                                     origin=(5, 90, 40)),
    "coronal_permuted": make_affine(zooms=(0.8, 0.8, 3.0), perm=(0, 2, 1), flips=(-1, -1, 1),
                                    origin=(30, -5, 60)),
    "oblique": make_affine(zooms=(1.0, 1.0, 2.0), rot=rotation(20, 0, 10), origin=(-12, 8, 3)),
    "oblique_permuted": make_affine(zooms=(1.0, 1.5, 1.0), perm=(2, 0, 1), flips=(1, -1, -1),
                                    rot=rotation(-15, 25, 5), origin=(7, -3, 21)),
}


def marker_volume(shape=(24, 20, 16), marker=(17, 5, 11), dtype=np.int16, rng=None):
    """A dim noisy volume with one bright 1-voxel marker at ``marker`` (voxel index)."""
    rng = rng or np.random.default_rng(0)
    vol = rng.integers(0, 50, size=shape).astype(dtype)
    vol[marker] = 1000
    return vol


def world_of_voxel(affine, ijk) -> np.ndarray:
    return (np.asarray(affine) @ np.r_[np.asarray(ijk, float), 1.0])[:3]


def write_dicom_series(folder, vol, affine_vox2ras, *, series_uid=None, description="synthetic",
                       shuffle=True, slope=1.0, intercept=0.0, modality="MR"):
    """Write ``vol`` (i = column, j = row, k = slice) as a DICOM series whose geometry is
    ``affine_vox2ras``; file names shuffled so order must come from positions."""
    from pathlib import Path

    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_vox2ras, float)
    col_sp, row_sp = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    iop = np.r_[lps[:3, 0] / col_sp, lps[:3, 1] / row_sp]
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(), generate_uid()
    order = np.random.default_rng(7).permutation(vol.shape[2]) if shuffle else range(vol.shape[2])
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"im{n:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.SeriesDescription, ds.SeriesNumber = modality, description, 3
        ds.PatientName, ds.PatientID = "Test^Phantom", "PHANTOM01"
        ds.InstanceNumber = int(vol.shape[2] - k)  # reversed on purpose
        ds.ImageOrientationPatient = [f"{v:.10f}" for v in iop]
        ds.ImagePositionPatient = [f"{v:.10f}" for v in (lps @ np.r_[0, 0, k, 1])[:3]]
        ds.PixelSpacing = [f"{row_sp:.10f}", f"{col_sp:.10f}"]
        ds.SliceThickness = "1.0"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
        ds.PixelData = np.ascontiguousarray(vol[:, :, k].T.astype(np.int16)).tobytes()
        ds.save_as(folder / f"im{n:04d}.dcm", enforce_file_format=True)
    return folder
