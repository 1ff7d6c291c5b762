"""Polygon pen: an outline (clicked point by point or drawn freehand) filled in a slice plane.

A pixel is filled when its centre is inside the polygon (even-odd rule) or on its outline, as
``skimage.draw.polygon`` does, so the pixels under clicked vertices belong to the ROI. Vertices
are in voxel index units of the ROI grid, so a polygon drawn on screen goes through
``layer.world_to_data`` first.
"""

from __future__ import annotations

import numpy as np

from napari_nora.roi.patch import Patch, empty_patch


def polygon_mask(vertices, shape) -> np.ndarray:
    """Fill a closed polygon on a 2D grid.

    Parameters
    ----------
    vertices : (n, 2) array of float
        Polygon vertices as (row, col) pixel indices; the outline closes by itself.
    shape : (int, int)
        Grid shape (rows, cols).

    Returns
    -------
    (rows, cols) bool array

    Examples
    --------
    >>> polygon_mask([(1, 1), (1, 3), (3, 3), (3, 1)], (5, 5)).sum()
    np.int64(9)
    """
    v = np.asarray(vertices, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2:
        raise ValueError(f"polygon vertices must be an (n, 2) array of (row, col), got {v.shape}")
    out = np.zeros(shape, dtype=bool)
    if len(v) < 3:
        return out
    r0, r1 = v[:, 0], np.roll(v[:, 0], -1)
    c0, c1 = v[:, 1], np.roll(v[:, 1], -1)
    rows = np.arange(max(int(np.ceil(v[:, 0].min())), 0),
                     min(int(np.floor(v[:, 0].max())) + 1, shape[0]))
    if rows.size == 0:
        return out
    # half-open rule: an edge counts for rows y with min(r0, r1) <= y < max(r0, r1)
    y = rows[:, None].astype(float)
    lo, hi = np.minimum(r0, r1), np.maximum(r0, r1)
    crosses = (y >= lo) & (y < hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = c0 + (y - r0) * (c1 - c0) / (r1 - r0)
    x = np.where(crosses, x, np.inf)
    x.sort(axis=1)
    n_cross = crosses.sum(axis=1)
    for i, row in enumerate(rows):
        xs = x[i, : n_cross[i]]
        for a, b in zip(xs[0::2], xs[1::2]):
            lo_c = max(int(np.ceil(a)), 0)
            hi_c = min(int(np.floor(b)), shape[1] - 1)
            if hi_c >= lo_c:
                out[row, lo_c: hi_c + 1] = True
    _mark_outline(out, v)
    return out


def _mark_outline(out, v, eps=1e-9):
    """Turn on the pixels whose centres lie exactly on an edge of the polygon."""
    for (ra, ca), (rb, cb) in zip(v, np.roll(v, -1, axis=0)):
        if abs(rb - ra) < eps:  # horizontal edge on a pixel row
            if abs(ra - round(ra)) < eps and 0 <= round(ra) < out.shape[0]:
                lo = max(int(np.ceil(min(ca, cb) - eps)), 0)
                hi = min(int(np.floor(max(ca, cb) + eps)), out.shape[1] - 1)
                out[int(round(ra)), lo: hi + 1] = True
            continue
        rows = np.arange(max(int(np.ceil(min(ra, rb) - eps)), 0),
                         min(int(np.floor(max(ra, rb) + eps)), out.shape[0] - 1) + 1)
        cols = ca + (rows - ra) * (cb - ca) / (rb - ra)
        on = (np.abs(cols - np.round(cols)) < 1e-7) & (np.round(cols) >= 0) & (
            np.round(cols) < out.shape[1])
        out[rows[on], np.round(cols[on]).astype(int)] = True


def polygon_patch(vertices, shape, *, axis, index) -> Patch:
    """Fill a polygon into the slice ``index`` along ``axis`` of a 3D grid.

    Parameters
    ----------
    vertices : (n, 2) or (n, 3) array of float
        Outline in voxel indices: the two in-plane coordinates in array order, or full 3D
        indices (the ``axis`` coordinate is then dropped).
    shape : (int, int, int)
        ROI grid shape.
    axis : int
        Normal of the slice plane.
    index : int
        Slice index along ``axis``.

    Returns
    -------
    Patch
        The filled polygon on its 1-voxel-thick bounding box.
    """
    v = np.asarray(vertices, dtype=float)
    if v.ndim == 2 and v.shape[1] == len(shape):
        v = np.delete(v, axis, axis=1)
    if not 0 <= index < shape[axis]:
        raise ValueError(
            f"slice {index} lies outside the ROI's {shape[axis]} slices on axis {axis}")
    plane = tuple(n for ax, n in enumerate(shape) if ax != axis)
    filled = polygon_mask(v, plane)
    if not filled.any():
        return empty_patch(len(shape))
    rows, cols = np.flatnonzero(filled.any(1)), np.flatnonzero(filled.any(0))
    sub = filled[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    in_plane = iter([slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)])
    slices = tuple(slice(index, index + 1) if ax == axis else next(in_plane)
                   for ax in range(len(shape)))
    return Patch(slices, np.expand_dims(sub, axis))
