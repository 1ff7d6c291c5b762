"""Undo and redo for ROI editing, storing only the changed box of each step, bit-packed.

:class:`History` owns the ROI mask it edits (in place, for speed: a stroke on a 512x512x400 ROI
must not copy 100 MB). A step is a whole stroke (mouse press to release, many pen dabs), a filled
polygon, or an operation (morphology, set operation, remove salt). For each step only the box
of voxels that changed is kept, as ``np.packbits`` of its previous content: one bit per voxel of
the box, so a step never costs more than its box (1/8 of it in bytes).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from napari_nora.roi.patch import Patch, bbox_slices, box_size, union_slices

#: Default number of undo steps kept.
MAX_STEPS = 50


@dataclass(frozen=True)
class _Step:
    slices: tuple
    shape: tuple
    bits: np.ndarray  # packbits of the box's content to restore

    @property
    def nbytes(self) -> int:
        return int(self.bits.nbytes)

    def content(self) -> np.ndarray:
        n = int(np.prod(self.shape))
        return np.unpackbits(self.bits, count=n).view(bool).reshape(self.shape)


def _pack(slices, values) -> _Step:
    return _Step(slices, values.shape, np.packbits(values.ravel()))


class History:
    """Undo/redo of edits on one ROI mask.

    Parameters
    ----------
    mask : (*shape) bool array
        The ROI. It is edited **in place**: keep a reference to ``history.mask``.
    max_steps : int
        Undo steps kept (oldest dropped first); at least 20.

    Examples
    --------
    >>> from napari_nora.roi.pens import brush
    >>> h = History(np.zeros((1, 9, 9), bool))
    >>> h.paint(brush(h.mask, (0, 4, 4), radius=2, axis=0))
    True
    >>> int(h.mask.sum()), h.undo() is not None, int(h.mask.sum())
    (13, True, 0)
    """

    def __init__(self, mask, *, max_steps: int = MAX_STEPS):
        if max_steps < 20:
            raise ValueError(f"keep at least 20 undo steps, got max_steps={max_steps}")
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(f"an ROI mask must be bool, got {mask.dtype}")
        self.mask = mask
        self._undo: deque[_Step] = deque(maxlen=max_steps)
        self._redo: list[_Step] = []
        self._box = None  # open stroke: box touched so far and its original content
        self._backup = None

    # -- strokes -----------------------------------------------------------------------------
    @property
    def in_stroke(self) -> bool:
        return self._box is not None

    def begin_stroke(self) -> None:
        """Start a stroke: every :meth:`paint` until :meth:`end_stroke` is one undo step."""
        if self.in_stroke:
            self.end_stroke()
        self._box = tuple(slice(0, 0) for _ in range(self.mask.ndim))
        self._backup = np.zeros((0,) * self.mask.ndim, dtype=bool)

    def _extend(self, slices):
        new = union_slices(self._box, slices)
        if new == self._box:
            return
        backup = self.mask[new].copy()  # outside the old box the mask is still original
        if self._backup.size:
            inner = tuple(slice(o.start - n.start, o.stop - n.start)
                          for o, n in zip(self._box, new))
            backup[inner] = self._backup
        self._box, self._backup = new, backup

    def paint(self, patch: Patch, *, value: bool = True) -> bool:
        """Turn the voxels of ``patch`` on (``value=True``) or off.

        Inside a stroke the change joins the stroke; otherwise it is a step by itself.
        Returns True when the mask changed (always True inside a stroke).
        """
        if patch.mask.size == 0:
            return False
        own = not self.in_stroke
        if own:
            self.begin_stroke()
        self._extend(patch.slices)
        patch.apply_to(self.mask, value=value)
        return self.end_stroke() if own else True

    def end_stroke(self) -> bool:
        """Close the stroke; record it if it changed anything. Returns True when it did."""
        if not self.in_stroke:
            return False
        box, backup = self._box, self._backup
        self._box = self._backup = None
        if backup.size == 0:
            return False
        changed = backup != self.mask[box]
        sub = bbox_slices(changed)
        if sub is None:
            return False
        sl = tuple(slice(b.start + s.start, b.start + s.stop) for b, s in zip(box, sub))
        self._push(_pack(sl, backup[sub]))
        return True

    def cancel_stroke(self) -> None:
        """Undo the open stroke's changes and close it without recording a step (a live
        preview, such as region growing while the tolerance is dragged, redraws this way)."""
        if not self.in_stroke:
            return
        if self._backup.size:
            self.mask[self._box] = self._backup
        self._box = self._backup = None

    # -- whole-region edits ------------------------------------------------------------------
    def assign(self, slices, values) -> bool:
        """Write ``values`` (bool, the box's shape) into the box ``slices`` as one step."""
        values = np.asarray(values, dtype=bool)
        old = self.mask[slices]
        changed = old != values
        sub = bbox_slices(changed)
        if sub is None:
            return False
        sl = tuple(slice(b.start + s.start, b.start + s.stop)
                   for b, s in zip(_norm(slices, self.mask.shape), sub))
        self._push(_pack(sl, self.mask[sl].copy()))
        self.mask[sl] = values[sub]
        return True

    def replace(self, new_mask) -> bool:
        """Replace the whole ROI (after an operation) as one step; only the changed box is kept."""
        new_mask = np.asarray(new_mask, dtype=bool)
        if new_mask.shape != self.mask.shape:
            raise ValueError(f"new ROI shape {new_mask.shape} differs from {self.mask.shape}")
        return self.assign(tuple(slice(0, n) for n in self.mask.shape), new_mask)

    def _push(self, step):
        self._undo.append(step)
        self._redo.clear()

    # -- undo / redo -------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def _swap(self, step) -> _Step:
        current = _pack(step.slices, self.mask[step.slices].copy())
        self.mask[step.slices] = step.content()
        return current

    def undo(self):
        """Undo the last step; returns the box that changed, or None when there is nothing."""
        if self.in_stroke:
            self.end_stroke()
        if not self._undo:
            return None
        step = self._undo.pop()
        self._redo.append(self._swap(step))
        return step.slices

    def redo(self):
        """Redo the last undone step; returns the box that changed, or None."""
        if not self._redo:
            return None
        step = self._redo.pop()
        self._undo.append(self._swap(step))
        return step.slices

    def clear(self) -> None:
        """Forget all steps (the mask stays as it is)."""
        self._undo.clear()
        self._redo.clear()

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo steps."""
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)

    def step_sizes(self) -> list[tuple[int, int]]:
        """For each undo step: (bytes stored, voxels in its box)."""
        return [(s.nbytes, box_size(s.slices)) for s in self._undo]


def _norm(slices, shape):
    return tuple(slice(*s.indices(n)[:2]) for s, n in zip(slices, shape))
