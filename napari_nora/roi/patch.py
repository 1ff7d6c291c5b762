"""A boolean mask on a box of a larger grid: what every pen and region grower returns.

Pens touch a few hundred voxels of a volume with millions, so they never build a full-size
mask: they return a :class:`Patch`, the box (``slices`` into the full grid) and the mask inside
it. :class:`napari_nora.roi.history.History` applies patches and remembers only their boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Patch:
    """Boolean mask ``mask`` on the box ``slices`` of a grid.

    Attributes
    ----------
    slices : tuple of slice
        One ``slice(start, stop)`` per grid axis (steps of 1, inside the grid).
    mask : (*box_shape) bool array
        True where the pen turns a voxel on (or off, when erasing).
    """

    slices: tuple
    mask: np.ndarray

    @property
    def empty(self) -> bool:
        """True when the patch selects no voxel."""
        return not bool(self.mask.any())

    @property
    def count(self) -> int:
        """Number of selected voxels."""
        return int(np.count_nonzero(self.mask))

    def to_mask(self, shape) -> np.ndarray:
        """The patch as a full ``shape`` bool mask (a new array)."""
        out = np.zeros(shape, dtype=bool)
        out[self.slices] = self.mask
        return out

    def apply_to(self, out: np.ndarray, *, value: bool = True) -> np.ndarray:
        """Set the selected voxels of ``out`` to ``value`` **in place**; returns ``out``."""
        out[self.slices][self.mask] = value
        return out


def empty_patch(ndim: int) -> Patch:
    """A patch that selects nothing."""
    return Patch(tuple(slice(0, 0) for _ in range(ndim)), np.zeros((0,) * ndim, dtype=bool))


def bbox_slices(mask, *, pad: int = 0) -> tuple | None:
    """Bounding box of the True voxels of ``mask`` as slices, grown by ``pad`` voxels and clipped
    to the grid; ``None`` when ``mask`` is empty.

    Parameters
    ----------
    mask : (*shape) bool array
    pad : int
        Voxels added on every side.

    Examples
    --------
    >>> m = np.zeros((4, 5), bool); m[1:3, 2] = True
    >>> bbox_slices(m)
    (slice(1, 3, None), slice(2, 3, None))
    """
    mask = np.asarray(mask)
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        hit = np.flatnonzero(mask.any(axis=other)) if other else np.flatnonzero(mask)
        if hit.size == 0:
            return None
        lo = max(int(hit[0]) - pad, 0)
        hi = min(int(hit[-1]) + 1 + pad, mask.shape[ax])
        out.append(slice(lo, hi))
    return tuple(out)


def union_slices(a: tuple, b: tuple) -> tuple:
    """Smallest box containing boxes ``a`` and ``b`` (empty boxes are ignored)."""
    if all(s.stop <= s.start for s in a):
        return b
    if all(s.stop <= s.start for s in b):
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def box_size(slices: tuple) -> int:
    """Number of voxels in a box."""
    return int(np.prod([max(s.stop - s.start, 0) for s in slices]))
