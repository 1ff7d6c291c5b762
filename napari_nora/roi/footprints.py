"""Pen footprints in millimetres on anisotropic voxel grids.

A pen of radius ``r`` mm covers the voxels whose centres lie within ``r`` mm of the centre
voxel's centre: a ball (3D) or a disc in one slice plane (2D), so a 5 mm pen is round on screen
whatever the voxel size. The centre voxel is always covered.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def _footprint(radius: float, spacing: tuple, axis) -> np.ndarray:
    half = [0 if ax == axis else int(np.floor(radius / s + 1e-9)) for ax, s in enumerate(spacing)]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    d2 = sum((g * s) ** 2 for g, s in zip(grids, spacing))
    fp = d2 <= radius * radius + 1e-9
    fp.flags.writeable = False
    return fp


def footprint(radius: float, *, spacing=(1.0, 1.0, 1.0), axis: int | None = None) -> np.ndarray:
    """Boolean footprint of a pen of ``radius`` mm.

    Parameters
    ----------
    radius : float
        Pen radius in mm (>= 0; 0 is the centre voxel alone).
    spacing : sequence of float, length ndim
        Voxel size in mm along each array axis.
    axis : int or None
        None: a ball over all axes. An axis: a disc in the plane normal to it (the footprint
        has length 1 along ``axis``).

    Returns
    -------
    (*fp_shape) bool array, read-only
        Odd length along every axis; the centre element is the pen centre.

    Examples
    --------
    >>> footprint(1.0, spacing=(2.0, 1.0, 1.0)).shape
    (1, 3, 3)
    """
    if radius < 0:
        raise ValueError(f"pen radius must be >= 0 mm, got {radius}")
    spacing = tuple(float(s) for s in spacing)
    if any(s <= 0 for s in spacing):
        raise ValueError(f"voxel spacing must be positive, got {spacing}")
    return _footprint(float(radius), spacing, axis)


def place(footprint_mask, center, shape):
    """Clip a footprint centred on voxel ``center`` to a grid of ``shape``.

    Returns
    -------
    slices : tuple of slice
        Box of the grid the footprint covers.
    fp : bool array
        The part of the footprint inside the grid (a view).
    """
    center = [int(round(c)) for c in center]
    grid_sl, fp_sl = [], []
    for c, n, f in zip(center, shape, footprint_mask.shape):
        h = f // 2
        lo, hi = max(c - h, 0), min(c + h + 1, n)
        grid_sl.append(slice(lo, max(hi, lo)))
        fp_sl.append(slice(lo - (c - h), max(hi, lo) - (c - h)))
    return tuple(grid_sl), footprint_mask[tuple(fp_sl)]
