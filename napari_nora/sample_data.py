"""File > Open Sample: real scans shipped inside our own dependencies, so they work offline.

* Brain MR: nibabel's ``anatomical.nii`` (a real T1 of a human head);
* oblique: the same scan with its affine tilted 20 degrees about R and 10 about S, the way
  a scanner stores an oblique acquisition (shows the display-grid resampling);
* fMRI: nibabel's ``example4d.nii.gz`` (real BOLD series, loaded one volume at a time);
* CT: pydicom's ``CT_small.dcm`` (a real CT slice in Hounsfield units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_nora.viewer_hook import with_view_conventions


def _nibabel_data(name: str) -> Path:
    import nibabel

    return Path(nibabel.__file__).parent / "tests" / "data" / name


@with_view_conventions
def brain_mr():
    from napari_nora.readers import read

    return read(_nibabel_data("anatomical.nii"))


@with_view_conventions
def brain_oblique():
    import nibabel as nib

    from napari_nora.readers.layers import volume_layer

    img = nib.load(_nibabel_data("anatomical.nii"))
    a, b = np.deg2rad(20), np.deg2rad(10)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    aff = img.affine.copy()
    aff[:3, :3] = rz @ rx @ aff[:3, :3]
    return [volume_layer(np.asarray(img.dataobj), aff, name="anatomical (oblique)")]


@with_view_conventions
def fmri_4d():
    from napari_nora.readers import read

    return read(_nibabel_data("example4d.nii.gz"))


@with_view_conventions
def ct_dicom():
    from pydicom.data import get_testdata_file

    from napari_nora.readers import read

    return read(get_testdata_file("CT_small.dcm"))
