"""Synthetic data with known geometry, shared by the tests."""

from __future__ import annotations

import numpy as np


def rotation(ax_deg=0.0, ay_deg=0.0, az_deg=0.0) -> np.ndarray:
    a, b, c = np.deg2rad([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def make_affine(*, zooms=(1.0, 1.0, 1.0), perm=(0, 1, 2), flips=(1, 1, 1), rot=None,
                origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """vox2ras: voxel axis ``v`` runs along RAS axis ``perm[v]`` with sign ``flips[v]``,
    optionally rotated (oblique)."""
    m = np.zeros((3, 3))
    for v in range(3):
        m[perm[v], v] = flips[v] * zooms[v]
    if rot is not None:
        m = rot @ m
    aff = np.eye(4)
    aff[:3, :3] = m
    aff[:3, 3] = origin
    return aff


#: affines covering the geometry contract: plain, permuted, flipped, LPS-like, oblique
AFFINES = {
    "ras": make_affine(zooms=(1.0, 1.2, 2.5), origin=(-10, -20, -30)),
    "lps": make_affine(zooms=(0.9, 0.9, 3.0), flips=(-1, -1, 1), origin=(50, 60, -40)),
    "sagittal_permuted": make_affine(zooms=(1.1, 1.0, 4.0), perm=(1, 2, 0), flips=(1, -1, 1),
                                     origin=(5, 90, 40)),
    "coronal_permuted": make_affine(zooms=(0.8, 0.8, 3.0), perm=(0, 2, 1), flips=(-1, -1, 1),
                                    origin=(30, -5, 60)),
    "oblique": make_affine(zooms=(1.0, 1.0, 2.0), rot=rotation(20, 0, 10), origin=(-12, 8, 3)),
    "oblique_permuted": make_affine(zooms=(1.0, 1.5, 1.0), perm=(2, 0, 1), flips=(1, -1, -1),
                                    rot=rotation(-15, 25, 5), origin=(7, -3, 21)),
}


def marker_volume(shape=(24, 20, 16), marker=(17, 5, 11), dtype=np.int16, rng=None):
    """A dim noisy volume with one bright 1-voxel marker at ``marker`` (voxel index)."""
    rng = rng or np.random.default_rng(0)
    vol = rng.integers(0, 50, size=shape).astype(dtype)
    vol[marker] = 1000
    return vol


def world_of_voxel(affine, ijk) -> np.ndarray:
    return (np.asarray(affine) @ np.r_[np.asarray(ijk, float), 1.0])[:3]
