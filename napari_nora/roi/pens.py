"""NORA's pens: plain brush, threshold pen, magic pen, each 2D (in a slice plane) or 3D.

Every pen takes the image first, a centre voxel index and keyword options, and returns a
:class:`~napari_nora.roi.patch.Patch` (the pen's box and the voxels it selects). The caller
turns those voxels on (left button) or off (right button), usually through
:class:`~napari_nora.roi.history.History` so the stroke can be undone.

=====================  ===========================================================
pen                    selects, inside the pen's radius
=====================  ===========================================================
brush                  every voxel
threshold "higher"     ``image >= threshold``
threshold "lower"      ``image <= threshold``
... ``connected=True`` the same, only voxels connected to the centre ("RGrow")
magic pen              ``|image - image[centre]| <= tolerance * window width``
... ``connected=True`` the same, connected to the centre (NORA's connected magic pen)
=====================  ===========================================================

The threshold is a typed value or a window limit: pass ``layer.contrast_limits[0]`` (or
``[1]``) as ``threshold``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_nora.roi.footprints import footprint, place
from napari_nora.roi.patch import Patch, empty_patch

MODES = ("higher", "lower")


def _box(image, center, radius, spacing, axis):
    if spacing is None:
        spacing = (1.0,) * image.ndim
    if len(spacing) != image.ndim or len(center) != image.ndim:
        raise ValueError(
            f"centre {tuple(center)} and spacing {tuple(spacing)} need one value per image axis "
            f"({image.ndim})")
    fp = footprint(radius, spacing=spacing, axis=axis)
    return place(fp, center, image.shape)


def _center_voxel(image, center):
    idx = tuple(int(round(c)) for c in center)
    if any(i < 0 or i >= n for i, n in zip(idx, image.shape)):
        return None
    return idx


def _keep_connected(sel, center_local, connectivity):
    """Component of ``sel`` that holds ``center_local`` (all False when the centre is off).

    Axes of length 1 (the plane of a 2D pen) are dropped first, so a disc is labelled in 2D.
    """
    if not sel[center_local]:
        return np.zeros_like(sel)
    keep = [ax for ax, n in enumerate(sel.shape) if n > 1]
    if not keep:
        return sel.copy()
    flat = sel.reshape([sel.shape[a] for a in keep])
    structure = ndimage.generate_binary_structure(flat.ndim, min(connectivity, flat.ndim))
    lab, _ = ndimage.label(flat, structure=structure)
    return (lab == lab[tuple(center_local[a] for a in keep)]).reshape(sel.shape)


def _pen(image, center, selector, *, radius, spacing, axis, connected, connectivity):
    if not hasattr(image, "shape"):
        image = np.asarray(image)
    c = _center_voxel(image, center)
    if c is None:
        return empty_patch(image.ndim)
    slices, fp = _box(image, c, radius, spacing, axis)
    sub = np.asarray(image[slices])
    sel = fp & selector(sub) if selector is not None else fp.copy()
    if connected:
        local = tuple(ci - s.start for ci, s in zip(c, slices))
        sel = _keep_connected(sel, local, connectivity)
    return Patch(slices, sel)


def brush(image, center, *, radius, spacing=None, axis=None) -> Patch:
    """Plain pen: every voxel within ``radius`` mm of the centre voxel.

    Parameters
    ----------
    image : (*shape) array
        Only its shape is used (pass the ROI or the reference image).
    center : sequence of float, length ndim
        Centre voxel index (rounded to the nearest voxel).
    radius : float
        Pen radius in mm.
    spacing : sequence of float, optional
        Voxel size in mm per axis (default 1 mm).
    axis : int or None
        Normal of the drawing plane for a 2D pen; None for a 3D ball.

    Returns
    -------
    Patch

    Examples
    --------
    >>> p = brush(np.zeros((5, 5, 5)), (2, 2, 2), radius=1, axis=0)
    >>> p.count
    5
    """
    return _pen(np.broadcast_to(np.zeros((), bool), np.shape(image)), center, None,
                radius=radius, spacing=spacing, axis=axis, connected=False, connectivity=1)


def threshold_pen(image, center, *, threshold, mode="higher", radius, spacing=None, axis=None,
                  connected=False, connectivity=1) -> Patch:
    """Threshold pen: voxels above ("higher") or below ("lower") ``threshold`` within the pen.

    Parameters
    ----------
    image : (*shape) array
        Intensities of the reference image, on the ROI's grid.
    center : sequence of float, length ndim
        Centre voxel index.
    threshold : float
        Typed value, or a window limit (``contrast_limits[0]`` or ``[1]``).
    mode : {"higher", "lower"}
        "higher": ``image >= threshold``; "lower": ``image <= threshold``.
    radius : float
        Pen radius in mm.
    spacing : sequence of float, optional
        Voxel size in mm per axis.
    axis : int or None
        Normal of the drawing plane (2D pen) or None (3D pen).
    connected : bool
        NORA's "RGrow" variants: keep only voxels connected to the centre voxel (nothing when
        the centre itself fails the threshold).
    connectivity : int
        1 = face neighbours (4 in 2D, 6 in 3D), up to ndim = all neighbours.

    Returns
    -------
    Patch
    """
    if mode not in MODES:
        raise ValueError(f"threshold pen mode must be one of {MODES}, got {mode!r}")
    thr = threshold
    selector = (lambda v: v >= thr) if mode == "higher" else (lambda v: v <= thr)
    return _pen(image, center, selector, radius=radius, spacing=spacing, axis=axis,
                connected=connected, connectivity=connectivity)


def magic_pen(image, center, *, window, tolerance=0.1, radius, spacing=None, axis=None,
              connected=False, connectivity=1) -> Patch:
    """Magic pen: voxels whose intensity is close to the centre voxel's.

    A voxel is similar when ``|image - image[center]| <= tolerance * (window[1] - window[0])``:
    the similarity follows the contrast window the user looks at, as in NORA.

    Parameters
    ----------
    image : (*shape) array
    center : sequence of float, length ndim
    window : (float, float)
        Current contrast limits (low, high).
    tolerance : float
        Fraction of the window width.
    radius, spacing, axis, connected, connectivity
        As in :func:`threshold_pen`.

    Returns
    -------
    Patch
    """
    c = _center_voxel(image, center)
    if c is None:
        return empty_patch(np.ndim(image))
    ref = float(image[c])
    tol = float(tolerance) * abs(float(window[1]) - float(window[0]))

    def selector(v):
        v = v.astype(np.float32, copy=False) if v.dtype.kind != "f" else v
        return np.abs(v - ref) <= tol

    return _pen(image, center, selector, radius=radius, spacing=spacing, axis=axis,
                connected=connected, connectivity=connectivity)


def interpolate_path(start, stop, *, step) -> np.ndarray:
    """Pen centres from ``start`` to ``stop`` (voxel indices) at most ``step`` voxels apart, so a
    fast mouse drag leaves no gaps. ``start`` is excluded, ``stop`` included.

    Returns
    -------
    (n, ndim) float array
    """
    start, stop = np.asarray(start, float), np.asarray(stop, float)
    n = max(int(np.ceil(np.abs(stop - start).max() / max(step, 1e-6))), 1)
    t = np.arange(1, n + 1)[:, None] / n
    return start + t * (stop - start)
