"""Analytic phantoms for the ROI tests: balls and boxes of known size and intensity."""

from __future__ import annotations

import numpy as np
import pytest


def ball(shape, center, radius_mm, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Voxels whose centres lie within ``radius_mm`` of ``center`` (voxel index)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing))
    return d2 <= radius_mm ** 2 + 1e-9


@pytest.fixture
def two_blobs():
    """int16 image, background 10, two bright (200) cubes 4 voxels apart, one dark (-50)."""
    img = np.full((12, 40, 40), 10, dtype=np.int16)
    img[:, 10:20, 10:20] = 200
    img[:, 10:20, 24:30] = 200
    img[:, 30:35, 10:15] = -50
    return img
