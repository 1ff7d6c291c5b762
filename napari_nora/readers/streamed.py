"""A display view of a volume that is still being decompressed (first slice on screen fast).

The gzip stream of a NIfTI file holds the voxel array in Fortran order: the last voxel axis
(k) arrives slab by slab. :class:`StreamedView` is the display-order view (see
:func:`napari_nora.geometry.aligned_view`) of that array; indexing waits only for the slabs it
touches, so napari can draw the middle slice while the rest is still arriving, and reading the
whole array (``np.asarray``) waits for all of it. A corrupt stream raises when data past the
damage is asked for.
"""

from __future__ import annotations

import numpy as np

from napari_nora import geometry
from napari_nora.readers.registry import NoraReadError


class StreamedView:
    def __init__(self, streamed, geom):
        self._s = streamed
        self._view = geometry.aligned_view(streamed.array, geom)
        self.shape, self.dtype, self.ndim = self._view.shape, self._view.dtype, self._view.ndim
        # display axis carrying voxel axis k, and whether it is flipped
        self._k_axis = int(np.flatnonzero(geom.disp2vox[2, :3])[0])
        self._k_flip = geom.disp2vox[2, self._k_axis] < 0
        nk = streamed.array.shape[2]
        self._slab = streamed.nbytes // nk

    @property
    def size(self):
        return self._view.size

    def __len__(self):
        return self.shape[0]

    def _wait(self, nbytes=None):
        try:
            self._s.wait(nbytes)
        except Exception as exc:
            raise NoraReadError(f"{self._s.path}: cannot read voxel data: {exc}") from exc

    def wait_k(self, k_max: int):
        """Block until voxel slabs 0..k_max are in memory."""
        self._wait((k_max + 1) * self._slab)

    def _k_needed(self, key) -> int | None:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) <= self._k_axis or any(k is Ellipsis or k is None for k in key):
            return None
        idx = key[self._k_axis]
        n = self.shape[self._k_axis]
        if isinstance(idx, (int, np.integer)):
            d = np.arange(n)[idx:idx + 1] if idx >= 0 else np.arange(n)[[idx]]
        elif isinstance(idx, slice):
            d = np.arange(n)[idx]
        else:
            return None
        if d.size == 0:
            return -1
        k = (n - 1 - d) if self._k_flip else d
        return int(k.max())

    def __getitem__(self, key):
        k = self._k_needed(key)
        if k is None:
            self._wait()
        elif k >= 0:
            self.wait_k(k)
        return self._view[key]

    def __array__(self, dtype=None, copy=None):
        self._wait()
        return self._view if dtype is None else self._view.astype(dtype)

    @property
    def complete(self) -> bool:
        return self._s.done >= self._s.nbytes

    def result(self) -> np.ndarray:
        """The whole display-order array, once it has all arrived."""
        self._wait()
        return self._view
