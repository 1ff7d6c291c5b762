"""Display conventions that need no viewer: contrast limits, CT windows, orientation.

CT window presets (keys 1-6; 0 returns to the robust automatic window), as (level, width) in
Hounsfield units, the usual radiology reading windows:

====  ===============  =====  =====
key   window           level  width
====  ===============  =====  =====
1     brain            40     80
2     subdural         75     215
3     stroke           40     40
4     bone             600    2800
5     lung             -600   1500
6     soft tissue      50     400
0     automatic        robust 0.5-99.5 percentiles
====  ===============  =====  =====
"""

from __future__ import annotations

import numpy as np

CT_WINDOWS: dict[str, tuple[str, float, float]] = {
    "1": ("brain", 40.0, 80.0),
    "2": ("subdural", 75.0, 215.0),
    "3": ("stroke", 40.0, 40.0),
    "4": ("bone", 600.0, 2800.0),
    "5": ("lung", -600.0, 1500.0),
    "6": ("soft tissue", 50.0, 400.0),
}

#: napari camera ``orientation2d`` (vertical, horizontal) for the display conventions. napari
#: world is (S, A, R): axial shows (A, R), coronal (S, R), sagittal (S, A). "up" puts anterior
#: (axial) and superior (coronal, sagittal) at the top; radiological puts patient right (+R)
#: on screen left, neurological on screen right.
ORIENTATION_2D = {
    "radiological": ("up", "left"),
    "neurological": ("up", "right"),
}


def window_limits(level: float, width: float) -> tuple[float, float]:
    """Contrast limits (low, high) of a window given by its level (centre) and width."""
    return (level - width / 2.0, level + width / 2.0)


def robust_limits(data, *, lower: float = 0.5, upper: float = 99.5,
                  max_samples: int = 200_000) -> tuple[float, float]:
    """Contrast limits from percentiles of a strided sample of the data (never min/max).

    Works on views without copying the whole array. Falls back to (min, max) when the
    percentiles coincide (binary or constant images), and to (0, 1) for an empty image.
    """
    arr = np.asarray(data)
    if arr.size == 0:
        return (0.0, 1.0)
    # a strided sub-grid: never copies the whole array, even for flipped/transposed views
    step = max(1, int(np.ceil((arr.size / max_samples) ** (1.0 / arr.ndim))))
    sample = np.asarray(arr[(slice(None, None, step),) * arr.ndim]).ravel()
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return (0.0, 1.0)
    lo, hi = np.percentile(sample, [lower, upper])
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return (float(lo), float(hi))
