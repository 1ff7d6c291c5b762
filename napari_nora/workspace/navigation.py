"""Mouse navigation as plain arithmetic: slice stepping, zoom about a point, window/level drags."""

from __future__ import annotations

import numpy as np


class SliceScroller:
    """Turn wheel notches into whole slice steps at a scroll speed (slices per notch).

    Fractional speeds accumulate, so at speed 0.25 four notches step one slice.
    """

    def __init__(self):
        self._progress = 0.0

    def steps(self, notches: float, speed: float = 1.0) -> int:
        self._progress += float(notches) * float(speed)
        whole = int(np.trunc(self._progress))
        self._progress -= whole
        return whole


def step_position(point, axis: int, n_steps: int, step: float, lo: float, hi: float) -> float:
    """World coordinate on ``axis`` after ``n_steps`` slices of ``step`` mm, kept in ``[lo, hi]``."""
    return float(np.clip(point[axis] + n_steps * step, lo, hi))


def zoom_about(center, zoom: float, factor: float, anchor) -> tuple[float, tuple]:
    """New (zoom, center) after zooming by ``factor`` so the point ``anchor`` stays put on screen.

    ``center`` and ``anchor`` are world points in the displayed axes.
    """
    center = np.asarray(center, float)
    anchor = np.asarray(anchor, float)
    new_zoom = zoom * factor
    new_center = anchor + (center - anchor) * (zoom / new_zoom)
    return new_zoom, tuple(new_center.tolist())


def wheel_zoom_factor(notches: float, *, per_notch: float = 1.15) -> float:
    return float(per_notch ** notches)


def window_level_drag(limits, dx_px: float, dy_px: float, *, data_range,
                      px_per_range: float = 400.0, min_width: float | None = None):
    """Contrast limits after a window/level drag of ``(dx_px, dy_px)`` screen pixels.

    Right widens the window, left narrows it; up raises the level (brighter background
    becomes darker), down lowers it. Dragging ``px_per_range`` pixels changes width or level
    by the whole ``data_range`` span, so sensitivity follows the image's intensity scale.

    Parameters
    ----------
    limits : (low, high)
        Contrast limits at the start of the drag.
    dx_px, dy_px : float
        Mouse movement since the start of the drag (screen pixels; y grows downwards).
    data_range : (min, max)
        Intensity range of the image (napari ``contrast_limits_range``).

    Returns
    -------
    (low, high)

    Examples
    --------
    >>> window_level_drag((0, 100), 40, 0, data_range=(0, 400))
    (-20.0, 120.0)
    """
    lo, hi = map(float, limits)
    span = float(data_range[1] - data_range[0]) or 1.0
    per_px = span / px_per_range
    level = (lo + hi) / 2.0 - dy_px * per_px
    width = (hi - lo) + dx_px * per_px
    floor = min_width if min_width is not None else span * 1e-3
    width = max(width, floor)
    return (level - width / 2.0, level + width / 2.0)
