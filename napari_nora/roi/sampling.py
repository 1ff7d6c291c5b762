"""Grids in the world: voxel sizes and sampling one grid at another grid's voxel positions.

An ROI and an image each carry ``affine_vox2ras``: array index -> RAS mm (for napari layers,
the ``disp2ras`` in their metadata, since layer data is on the display grid). When the two grids
match, voxels are taken by index; otherwise the image is sampled at the world positions of the
ROI's voxels (``inv(affine_image) @ affine_roi``), never by index.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _affine(a, ndim=3):
    a = np.eye(ndim + 1) if a is None else np.asarray(a, dtype=float)
    if a.shape != (ndim + 1, ndim + 1):
        raise ValueError(f"an affine must be ({ndim + 1}, {ndim + 1}), got {a.shape}")
    return a


def voxel_sizes(affine_vox2ras) -> np.ndarray:
    """Voxel size in mm along each array axis (column norms of the affine)."""
    a = _affine(affine_vox2ras)
    return np.linalg.norm(a[:3, :3], axis=0)


def voxel_volume(affine_vox2ras) -> float:
    """Volume of one voxel in mm^3."""
    return float(abs(np.linalg.det(_affine(affine_vox2ras)[:3, :3])))


def same_grid(shape_a, affine_a, shape_b, affine_b, *, atol=1e-4) -> bool:
    """True when two grids have the same matrix and the same voxel-to-world affine."""
    return tuple(shape_a) == tuple(shape_b) and np.allclose(
        _affine(affine_a), _affine(affine_b), atol=atol)


def index_to_index(affine_from, affine_to) -> np.ndarray:
    """(4, 4) map from voxel indices of one grid to voxel indices of another, through RAS."""
    return np.linalg.inv(_affine(affine_to)) @ _affine(affine_from)


def sample_at(image, index_vox, *, order=1, cval=np.nan) -> np.ndarray:
    """Sample ``image`` at fractional voxel indices.

    Parameters
    ----------
    image : (i, j, k) array
    index_vox : (3, n) array
        Voxel indices of ``image`` (rows: axes).
    order : int
        0 nearest, 1 trilinear (default).
    cval : float
        Value outside the image (NaN by default, so callers can drop such points).

    Returns
    -------
    (n,) float64 array
    """
    return ndimage.map_coordinates(np.asarray(image), index_vox, order=order, mode="constant",
                                   cval=cval, output=np.float64, prefilter=False)


def resample_mask(mask, affine_vox2ras, *, shape, like_affine) -> np.ndarray:
    """Put an ROI onto another grid (nearest voxel): each target voxel takes the ROI's value at
    its own centre's world position.

    Parameters
    ----------
    mask : (i, j, k) bool array
    affine_vox2ras : (4, 4) array
        The ROI's grid.
    shape : tuple of int
        Target grid shape.
    like_affine : (4, 4) array
        Target grid's voxel-to-RAS affine.

    Returns
    -------
    (*shape) bool array
    """
    mask = np.asarray(mask, dtype=bool)
    if same_grid(mask.shape, affine_vox2ras, shape, like_affine):
        return mask.copy()
    m = index_to_index(like_affine, affine_vox2ras)  # target index -> ROI index
    out = ndimage.affine_transform(mask.view(np.uint8), m[:3, :3], offset=m[:3, 3],
                                   output_shape=tuple(shape), order=0, mode="constant", cval=0)
    return out.astype(bool)
