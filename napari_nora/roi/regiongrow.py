"""Unconstrained 3D region growing from a seed voxel (NORA's region-growing pen).

The region is the set of voxels connected to the seed (face neighbours by default) whose
intensity lies within ``tolerance`` of the seed's. :func:`region_grow` finds it by labelling
only a box around the seed: it starts with a small box and enlarges it, face by face, while the
seed's component touches a face of the box that is not the image border. A region of a few
thousand voxels in a 512x512x400 CT then costs a few milliseconds instead of a labelling pass over
100 million voxels; a region that fills the whole image costs about what labelling the image
once does (each step doubles the box along the axes where the region reaches a face, and the
box becomes the whole image once it passes a quarter of it). :func:`region_grow_label` is that
whole-image labelling, kept as the reference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from napari_nora.roi.patch import Patch

#: Half-width (voxels) of the first box around the seed.
INITIAL_HALF_WIDTH = 16
#: Once the box holds this fraction of the image, take the whole image.
WHOLE_IMAGE_FRACTION = 0.25
#: A region filling more than this fraction of a box of at least 1/DENSE_BOX of the image,
#: reaching all of the box's inner faces and the image border, jumps to the whole image.
DENSE_FRACTION = 0.5
DENSE_BOX = 64


def _seed_index(image, seed):
    idx = tuple(int(round(c)) for c in seed)
    if len(idx) != image.ndim or any(i < 0 or i >= n for i, n in zip(idx, image.shape)):
        raise ValueError(f"seed {tuple(seed)} lies outside the image of shape {image.shape}")
    return idx


def in_range(values, low, high) -> np.ndarray:
    """``low <= values <= high`` as a bool array (one pass over integer data).

    Parameters
    ----------
    values : array
    low, high : float
        Inclusive limits, in the intensity units of ``values``.
    """
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind in "iu" and values.dtype.itemsize <= 4:
        info = np.iinfo(values.dtype)
        lo_i, hi_i = max(math.ceil(low), info.min), min(math.floor(high), info.max)
        if lo_i > hi_i:
            return np.zeros(values.shape, dtype=bool)
        udt = np.dtype(f"u{values.dtype.itemsize}")
        # values - lo wraps around for values < lo, landing above hi - lo: one comparison
        with np.errstate(over="ignore"):
            shifted = np.subtract(values, values.dtype.type(lo_i), dtype=values.dtype)
        return shifted.view(udt) <= udt.type(hi_i - lo_i)
    if kind == "b":
        values = values.astype(np.uint8)
    return (values >= low) & (values <= high)


def _limits(image, seed, tolerance):
    if tolerance < 0:
        raise ValueError(f"region growing tolerance must be >= 0, got {tolerance}")
    s = float(image[seed])
    return s - float(tolerance), s + float(tolerance)


def region_grow_patch(image, seed, *, tolerance, connectivity=1,
                      initial_half_width=INITIAL_HALF_WIDTH) -> Patch:
    """Region grown from ``seed``, as a patch on the region's bounding box.

    Parameters
    ----------
    image : (*shape) array
        Intensities (any ndim, usually 3).
    seed : sequence of float, length ndim
        Seed voxel index (rounded).
    tolerance : float
        Voxels with ``|image - image[seed]| <= tolerance`` may join, in intensity units.
    connectivity : int
        1 = face neighbours (6 in 3D), up to ndim = all 26 neighbours.
    initial_half_width : int
        Half-width in voxels of the first box.

    Returns
    -------
    Patch
        Box and mask of the region (the seed is always in it).
    """
    seed = _seed_index(image, seed)
    low, high = _limits(image, seed, tolerance)
    shape = image.shape
    total = math.prod(shape)
    structure = ndimage.generate_binary_structure(image.ndim, connectivity)
    lo = [max(c - initial_half_width, 0) for c in seed]
    hi = [min(c + initial_half_width + 1, n) for c, n in zip(seed, shape)]
    while True:
        if math.prod(h - l for l, h in zip(lo, hi)) > WHOLE_IMAGE_FRACTION * total:
            lo, hi = [0] * image.ndim, list(shape)
        slices = tuple(slice(l, h) for l, h in zip(lo, hi))
        sel = in_range(image[slices], low, high)
        lab, n = ndimage.label(sel, structure=structure)
        local = tuple(c - l for c, l in zip(seed, lo))
        comp = sel if n == 1 else np.equal(lab, lab[local], out=sel)  # reuse sel's memory
        # per axis and side: does the region touch the box's face, and is that face the image's
        touch = [(comp.take(0, axis=ax).any(), comp.take(-1, axis=ax).any())
                 for ax in range(image.ndim)]
        border = [(lo[ax] == 0, hi[ax] == shape[ax]) for ax in range(image.ndim)]
        faces = [(t0 and not b0, t1 and not b1) for (t0, t1), (b0, b1) in zip(touch, border)]
        grown = any(g for pair in faces for g in pair)
        reaches_all = all(f or b for fp, bp in zip(faces, border) for f, b in zip(fp, bp))
        on_border = any(t and b for tp, bp in zip(touch, border) for t, b in zip(tp, bp))
        if grown and reaches_all and on_border and comp.size * DENSE_BOX >= total \
                and comp.mean() > DENSE_FRACTION:
            # a dense region reaching every inner face of a large box and the image's border
            # is most likely the background around the anatomy (a large organ fills its box
            # too, but lies inside the image): label the whole image now, not box by box
            lo, hi = [0] * image.ndim, list(shape)
            continue
        for ax, (grow_lo, grow_hi) in enumerate(faces):
            # double the box along this axis, on the side(s) where the region reaches its face
            if not (grow_lo or grow_hi):
                continue
            extent = max(hi[ax] - lo[ax], initial_half_width)
            if grow_lo and grow_hi:
                lo[ax], hi[ax] = lo[ax] - extent // 2, hi[ax] + extent - extent // 2
                if lo[ax] < 0:  # what does not fit on one side goes to the other
                    hi[ax] -= lo[ax]
                if hi[ax] > shape[ax]:
                    lo[ax] -= hi[ax] - shape[ax]
            elif grow_lo:
                lo[ax] -= extent
            else:
                hi[ax] += extent
            lo[ax], hi[ax] = max(lo[ax], 0), min(hi[ax], shape[ax])
        if not grown:
            return Patch(slices, comp)


def region_grow(image, seed, *, tolerance, connectivity=1) -> np.ndarray:
    """Region grown from ``seed``: voxels connected to it within ``tolerance`` of its intensity.

    Parameters
    ----------
    image : (*shape) array
    seed : sequence of float, length ndim
        Seed voxel index.
    tolerance : float
        Intensity tolerance (same units as ``image``).
    connectivity : int
        1 = face neighbours (6 in 3D).

    Returns
    -------
    (*shape) bool array

    Examples
    --------
    >>> img = np.zeros((5, 5, 5)); img[1:4, 1:4, 1:4] = 10
    >>> int(region_grow(img, (2, 2, 2), tolerance=1).sum())
    27
    """
    patch = region_grow_patch(image, seed, tolerance=tolerance, connectivity=connectivity)
    if patch.mask.shape == tuple(image.shape):  # the box is the whole image: no copy
        return patch.mask
    return patch.to_mask(image.shape)


def region_grow_label(image, seed, *, tolerance, connectivity=1) -> np.ndarray:
    """Reference implementation: threshold the whole image, label it, keep the seed's label."""
    seed = _seed_index(image, seed)
    low, high = _limits(image, seed, tolerance)
    sel = (image >= low) & (image <= high)
    lab, _ = ndimage.label(sel, structure=ndimage.generate_binary_structure(image.ndim,
                                                                              connectivity))
    return lab == lab[seed]
