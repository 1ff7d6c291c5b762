"""Connected components of an ROI: remove salt (NORA), keep the largest island."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_nora.roi.patch import bbox_slices


def _label(mask, connectivity):
    box = bbox_slices(mask)
    if box is None:
        return None, None, 0
    st = ndimage.generate_binary_structure(mask.ndim, connectivity)
    lab, n = ndimage.label(mask[box], structure=st)
    return box, lab, n


def remove_salt(mask, *, min_size, connectivity=1) -> np.ndarray:
    """Drop connected components smaller than ``min_size`` voxels.

    Parameters
    ----------
    mask : (*shape) bool array
    min_size : int
        Components with fewer voxels are removed; those with ``min_size`` or more stay.
    connectivity : int
        1 = face neighbours (6 in 3D, as NORA's morphology), up to ndim.

    Returns
    -------
    (*shape) bool array (new)

    Examples
    --------
    >>> m = np.zeros((1, 6, 6), bool); m[0, 0, 0] = True; m[0, 2:5, 2:5] = True
    >>> int(remove_salt(m, min_size=2).sum())
    9
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros_like(mask)
    box, lab, n = _label(mask, connectivity)
    if n == 0:
        return out
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_size
    keep[0] = False
    out[box] = keep[lab]
    return out


def largest_component(mask, *, connectivity=1) -> np.ndarray:
    """Keep only the largest connected component (Slicer's "keep largest island")."""
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros_like(mask)
    box, lab, n = _label(mask, connectivity)
    if n == 0:
        return out
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    out[box] = lab == sizes.argmax()
    return out
