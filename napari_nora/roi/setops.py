"""Set operations on ROIs: intersection, union, difference (and the complement).

All ROIs must share one grid; put an ROI from another grid onto it first with
:func:`napari_nora.roi.sampling.resample_mask`.
"""

from __future__ import annotations

import numpy as np


def _masks(first, others, op):
    masks = [np.asarray(first, dtype=bool)] + [np.asarray(m, dtype=bool) for m in others]
    for m in masks[1:]:
        if m.shape != masks[0].shape:
            raise ValueError(
                f"{op} needs ROIs on one grid, got shapes {masks[0].shape} and {m.shape}; "
                "resample one onto the other's grid with roi.resample_mask first")
    return masks


def intersection(mask, *others) -> np.ndarray:
    """Voxels ON in every ROI.

    Parameters
    ----------
    mask, *others : (*shape) bool arrays

    Returns
    -------
    (*shape) bool array (new)
    """
    masks = _masks(mask, others, "intersection")
    out = masks[0].copy()
    for m in masks[1:]:
        out &= m
    return out


def union(mask, *others) -> np.ndarray:
    """Voxels ON in any ROI. See :func:`intersection`."""
    masks = _masks(mask, others, "union")
    out = masks[0].copy()
    for m in masks[1:]:
        out |= m
    return out


def difference(mask, *others) -> np.ndarray:
    """Voxels ON in ``mask`` and in none of ``others``. See :func:`intersection`."""
    masks = _masks(mask, others, "difference")
    out = masks[0].copy()
    for m in masks[1:]:
        out &= ~m
    return out


def complement(mask) -> np.ndarray:
    """Voxels OFF in ``mask`` (Slicer's "invert")."""
    return ~np.asarray(mask, dtype=bool)
