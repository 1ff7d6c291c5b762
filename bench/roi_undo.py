"""Undo memory per stroke: bytes ``History`` keeps beside the stroke's bounding box and beside a
whole-ROI snapshot (the naive undo), on a 512x512x400 ROI; plus the time to undo and redo.

Strokes: 2D brush drags of several lengths and radii in one axial slice, a 3D ball stroke,
and a whole-ROI operation (dilation of a 3D blob). "box" is the stroke's bounding box as a
bool array (1 byte per voxel). Goal: no more than the stroke's box.

Usage: python bench/roi_undo.py
"""

from __future__ import annotations

import time

import numpy as np

from napari_nora.roi import History, brush, dilation, interpolate_path

SHAPE = (400, 512, 512)
SPACING = (1.0, 0.5, 0.5)


def drag(h, start, stop, *, radius, axis=0):
    h.begin_stroke()
    for p in [start, *interpolate_path(start, stop, step=max(radius / SPACING[1] / 2, 1))]:
        h.paint(brush(h.mask, p, radius=radius, spacing=SPACING, axis=axis))
    h.end_stroke()


def main(argv=None) -> int:
    h = History(np.zeros(SHAPE, bool))
    snapshot = h.mask.nbytes
    strokes = [
        ("2D dab r=2mm", lambda: drag(h, (200, 100, 100), (200, 100, 100), radius=2)),
        ("2D drag 20mm r=5mm", lambda: drag(h, (200, 200, 200), (200, 240, 220), radius=5)),
        ("2D drag 100mm r=10mm", lambda: drag(h, (210, 50, 50), (210, 250, 450), radius=10)),
        ("3D drag 30mm r=8mm", lambda: drag(h, (100, 300, 300), (120, 340, 360), radius=8,
                                            axis=None)),
        ("dilation of a blob", lambda: h.replace(dilation(h.mask))),
    ]
    print(f"whole-ROI snapshot (naive undo): {snapshot / 1e6:.1f} MB per step")
    print(f"{'stroke':>22} {'stored bytes':>12} {'box bytes':>10} {'stored/box':>10} "
          f"{'stored/snapshot':>15}")
    for name, do in strokes:
        do()
        nbytes, voxels = h.step_sizes()[-1]
        print(f"{name:>22} {nbytes:12d} {voxels:10d} {nbytes / voxels:10.3f} "
              f"{nbytes / snapshot:15.2e}")
    after = h.mask.copy()
    t0 = time.perf_counter()
    n = 0
    while h.undo() is not None:
        n += 1
    t_undo = time.perf_counter() - t0
    assert not h.mask.any()
    t0 = time.perf_counter()
    while h.redo() is not None:
        pass
    t_redo = time.perf_counter() - t0
    assert np.array_equal(h.mask, after)
    print(f"undo all {n} steps: {t_undo * 1000:.1f} ms, redo all: {t_redo * 1000:.1f} ms; "
          f"history holds {h.nbytes / 1e3:.1f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
