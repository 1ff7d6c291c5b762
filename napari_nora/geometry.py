"""Scanner geometry: from a voxel grid with a ``vox2ras`` affine to napari layer geometry.

World space is RAS+ millimetres. napari's world axes are ordered ``(z, y, x) = (S, A, R)``,
so RAS axis ``r`` is napari axis ``2 - r``.

Two cases, decided by :func:`is_axis_aligned`:

* axis-aligned grids (any permutation or flip of the voxel axes): the array is transposed and
  flipped as a *view* so that display index axes run along +S, +A, +R; the layer gets a positive
  ``scale`` and a ``translate`` and no resampling happens;
* oblique grids: napari cannot slice obliquely, so the volume is resampled onto an axis-aligned
  *display grid* (:func:`display_grid_for`), like FSLeyes' world display space. The original
  affine stays in the layer metadata so that labels go back onto the source grid
  (:func:`labels_to_source`).

Every function names the space of what it takes and returns: ``vox`` (source voxel index
``i, j, k``), ``disp`` (display index ``z, y, x``), ``ras`` (world mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A column is "aligned" when its off-axis components are below this fraction of its length.
ALIGN_TOL = 1e-4

# LPS <-> RAS: negate the first two world axes.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class DisplayGeometry:
    """How a source grid is shown in napari.

    Attributes
    ----------
    disp2vox : (4, 4) array
        Display index ``(z, y, x, 1)`` to source voxel index ``(i, j, k, 1)``.
    disp2ras : (4, 4) array
        Display index ``(z, y, x, 1)`` to RAS mm ``(R, A, S, 1)``.
    shape : tuple of int
        Display grid shape ``(nz, ny, nx)``.
    oblique : bool
        True when the display grid is a resampling of the source grid.
    """

    disp2vox: np.ndarray
    disp2ras: np.ndarray
    shape: tuple[int, int, int]
    oblique: bool

    @property
    def scale(self) -> tuple[float, float, float]:
        """napari ``scale`` in (S, A, R) order (mm)."""
        return tuple(float(abs(self.disp2ras[2 - n, n])) for n in range(3))

    @property
    def translate(self) -> tuple[float, float, float]:
        """napari ``translate``: RAS position of display index 0, in (S, A, R) order."""
        return tuple(float(self.disp2ras[2 - n, 3]) for n in range(3))


def is_axis_aligned(affine_vox2ras, *, tol: float = ALIGN_TOL) -> bool:
    """True when every voxel axis runs along one world axis (a permutation, flips allowed)."""
    m = np.asarray(affine_vox2ras, dtype=float)[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    if np.any(norms == 0):
        return False
    rel = np.abs(m) / norms
    dominant = rel.argmax(axis=0)
    if len(set(dominant.tolist())) != 3:
        return False
    off = rel.copy()
    off[dominant, np.arange(3)] = 0
    return bool(off.max() < tol)


def aligned_geometry(affine_vox2ras, shape_vox) -> DisplayGeometry:
    """Display geometry of an axis-aligned grid: a permutation and flips, no resampling."""
    a = np.asarray(affine_vox2ras, dtype=float)
    m = a[:3, :3]
    world_of_vox = np.abs(m).argmax(axis=0)  # RAS axis each voxel axis runs along
    disp2vox = np.zeros((4, 4))
    disp2vox[3, 3] = 1
    shape = [0, 0, 0]
    for n in range(3):
        ras_axis = 2 - n
        v = int(np.flatnonzero(world_of_vox == ras_axis)[0])
        sign = np.sign(m[ras_axis, v])
        shape[n] = int(shape_vox[v])
        if sign > 0:
            disp2vox[v, n] = 1
        else:  # display index d <-> voxel index N-1-d
            disp2vox[v, n] = -1
            disp2vox[v, 3] = shape_vox[v] - 1
    disp2ras = a @ disp2vox
    # make the exactly-zero off-diagonal entries exact (they are below ALIGN_TOL)
    lin = np.zeros((3, 3))
    for n in range(3):
        lin[2 - n, n] = disp2ras[2 - n, n]
    disp2ras[:3, :3] = lin
    return DisplayGeometry(disp2vox, disp2ras, tuple(shape), oblique=False)


def display_grid_for(affine_vox2ras, shape_vox) -> DisplayGeometry:
    """Axis-aligned display grid covering an oblique source grid.

    Each display axis takes the spacing of the source axis closest to it, so the voxel count
    stays close to the source's; the grid covers the centres of all source voxels.
    """
    a = np.asarray(affine_vox2ras, dtype=float)
    m = a[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    closest = (np.abs(m) / norms).argmax(axis=1)  # per RAS axis: nearest voxel axis
    spacing_ras = norms[closest]
    corners = np.array(np.meshgrid(*[[0, s - 1] for s in shape_vox], indexing="ij"))
    corners = corners.reshape(3, -1)
    corners_ras = m @ corners + a[:3, 3:4]
    lo, hi = corners_ras.min(axis=1), corners_ras.max(axis=1)
    n_ras = np.ceil((hi - lo) / spacing_ras - 1e-6).astype(int) + 1
    disp2ras = np.zeros((4, 4))
    disp2ras[3, 3] = 1
    for n in range(3):
        r = 2 - n
        disp2ras[r, n] = spacing_ras[r]
        disp2ras[r, 3] = lo[r]
    disp2vox = np.linalg.inv(a) @ disp2ras
    shape = tuple(int(n_ras[2 - n]) for n in range(3))
    return DisplayGeometry(disp2vox, disp2ras, shape, oblique=True)


def display_geometry(affine_vox2ras, shape_vox) -> DisplayGeometry:
    """The display geometry for a source grid: exact when aligned, resampled when oblique."""
    if is_axis_aligned(affine_vox2ras):
        return aligned_geometry(affine_vox2ras, shape_vox)
    return display_grid_for(affine_vox2ras, shape_vox)


def aligned_view(vol_vox, geom: DisplayGeometry):
    """View of ``vol_vox`` (spatial axes first, extra axes after) in display order.

    Returns an array with the display axes first ``(z, y, x, ...)``; a view, never a copy.
    """
    perm = [int(np.flatnonzero(geom.disp2vox[:3, n])[0]) for n in range(3)]
    view = np.transpose(vol_vox, perm + list(range(3, vol_vox.ndim)))
    flips = tuple(
        slice(None, None, -1) if geom.disp2vox[perm[n], n] < 0 else slice(None) for n in range(3)
    )
    return view[flips]


def resample_to_display(vol_vox, geom: DisplayGeometry, *, order: int = 1, cval=0):
    """Resample a 3D source volume onto the display grid (trilinear, or nearest with order=0).

    The output keeps the input dtype (integer inputs are rounded), so an int16 scan stays int16.
    """
    from scipy import ndimage

    vol_vox = np.asarray(vol_vox)
    out_dtype = vol_vox.dtype
    work = vol_vox if (order == 0 or vol_vox.dtype.kind == "f") else vol_vox.astype(np.float32)
    res = ndimage.affine_transform(
        work,
        geom.disp2vox[:3, :3],
        offset=geom.disp2vox[:3, 3],
        output_shape=geom.shape,
        order=order,
        mode="constant",
        cval=cval,
        prefilter=False,
    )
    if res.dtype != out_dtype:
        if out_dtype.kind in "iu":
            info = np.iinfo(out_dtype)
            res = np.clip(np.rint(res), info.min, info.max)
        res = res.astype(out_dtype)
    return res


def labels_to_source(labels_disp, geom: DisplayGeometry, shape_vox):
    """Put a label volume from the display grid back onto its source grid.

    Aligned: the exact inverse view (a copy in the source's own axis order).
    Oblique: each source voxel takes the label of the display voxel that contains its centre.
    """
    labels_disp = np.asarray(labels_disp)
    if not geom.oblique:
        perm = [int(np.flatnonzero(geom.disp2vox[:3, n])[0]) for n in range(3)]
        flips = tuple(
            slice(None, None, -1) if geom.disp2vox[perm[n], n] < 0 else slice(None)
            for n in range(3)
        )
        return np.ascontiguousarray(np.transpose(labels_disp[flips], np.argsort(perm)))
    from scipy import ndimage

    vox2disp = np.linalg.inv(geom.disp2vox)
    return ndimage.affine_transform(
        labels_disp,
        vox2disp[:3, :3],
        offset=vox2disp[:3, 3],
        output_shape=tuple(shape_vox),
        order=0,
        mode="constant",
        cval=0,
        prefilter=False,
    )


def ras_to_napari(points_ras):
    """(N, 3) RAS points to napari world order (S, A, R)."""
    return np.asarray(points_ras, dtype=float)[..., ::-1]


def napari_to_ras(points_sar):
    """(N, 3) napari world points (S, A, R) to RAS."""
    return np.asarray(points_sar, dtype=float)[..., ::-1]


def lps_to_ras(affine_vox2lps):
    """Convert a voxel-to-LPS affine (DICOM, ITK, NRRD 'left-posterior-superior') to vox2ras."""
    return LPS_TO_RAS @ np.asarray(affine_vox2lps, dtype=float)
