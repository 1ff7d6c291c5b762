"""Morphology on an ROI's own matrix with a 6-neighbourhood (4 in a single-slice ROI).

As in NORA, the neighbourhood is that of the ROI matrix: one voxel along each axis, whatever
the voxel size. Outside the matrix counts as ON for erosion and OFF for dilation (the
convention of ``skimage.morphology``), so an ROI touching the border is not eaten from there,
and erosion and dilation stay dual. Work is done on the ROI's bounding box only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_nora.roi.patch import bbox_slices


def _structure(shape, connectivity):
    """Face (or wider) neighbourhood over the axes longer than one voxel."""
    st = ndimage.generate_binary_structure(len(shape), connectivity)
    for ax, n in enumerate(shape):
        if n == 1:  # no neighbours across a single slice
            keep = np.zeros(3, bool)
            keep[1] = True
            st = st & keep.reshape([-1 if a == ax else 1 for a in range(len(shape))])
    return st


def _check(mask, iterations):
    mask = np.asarray(mask, dtype=bool)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    return mask


def erosion(mask, *, iterations=1, connectivity=1) -> np.ndarray:
    """Erode an ROI: a voxel stays ON when it and its neighbours are ON.

    Parameters
    ----------
    mask : (*shape) bool array
    iterations : int
        Number of one-voxel steps.
    connectivity : int
        1 = 6-neighbourhood (NORA), 2 = 18, 3 = 26.

    Returns
    -------
    (*shape) bool array (new)

    Examples
    --------
    >>> m = np.zeros((5, 5, 5), bool); m[1:4, 1:4, 1:4] = True
    >>> int(erosion(m).sum())
    1
    """
    mask = _check(mask, iterations)
    out = np.zeros_like(mask)
    box = bbox_slices(mask, pad=1)
    if box is None:
        return out
    out[box] = ndimage.binary_erosion(mask[box], _structure(mask.shape, connectivity),
                                      iterations=iterations, border_value=1)
    return out


def dilation(mask, *, iterations=1, connectivity=1) -> np.ndarray:
    """Dilate an ROI: a voxel turns ON when a neighbour is ON. See :func:`erosion`."""
    mask = _check(mask, iterations)
    out = np.zeros_like(mask)
    box = bbox_slices(mask, pad=iterations)
    if box is None:
        return out
    out[box] = ndimage.binary_dilation(mask[box], _structure(mask.shape, connectivity),
                                       iterations=iterations, border_value=0)
    return out


def opening(mask, *, iterations=1, connectivity=1) -> np.ndarray:
    """Erosion then dilation: removes specks and thin bridges. See :func:`erosion`."""
    return dilation(erosion(mask, iterations=iterations, connectivity=connectivity),
                    iterations=iterations, connectivity=connectivity)


def closing(mask, *, iterations=1, connectivity=1) -> np.ndarray:
    """Dilation then erosion: fills small holes and gaps. See :func:`erosion`.

    Near the matrix border the dilated part that would fall outside is lost, as in NORA.
    """
    return erosion(dilation(mask, iterations=iterations, connectivity=connectivity),
                   iterations=iterations, connectivity=connectivity)
