"""ROI statistics for every (ROI, image) pair, as NORA's ROI statistics window shows them.

For each pair: voxel count, volume (mL), area (cm^2, for single-slice ROIs; NaN otherwise),
mean, standard deviation (population, ``ddof=0``), median, 25th and 75th percentiles (numpy's
default linear interpolation), and how many ROI voxels fell outside the image. An image on the
ROI's grid is read by index; an image on another grid is sampled (trilinear by default) at the
world positions of the ROI's voxel centres, through the two ``vox2ras`` affines.
"""

from __future__ import annotations

import csv
import math

import numpy as np

from napari_nora.roi.sampling import index_to_index, same_grid, sample_at, voxel_sizes, voxel_volume

COLUMNS = ("roi", "image", "voxels", "volume_ml", "area_cm2", "mean", "std", "median", "p25",
           "p75", "outside")
QUANTILES = (25.0, 50.0, 75.0)


def gather(image, index) -> np.ndarray:
    """``image[index]`` for a strided view (transposed, flipped: the display views readers
    give napari) without numpy's slow multi-array fancy indexing: one ``take`` on the memory the
    view spans.

    Parameters
    ----------
    image : (*shape) ndarray, any strides
    index : tuple of (n,) int arrays, one per axis

    Returns
    -------
    (n,) array of ``image.dtype``
    """
    item = image.itemsize
    if image.size == 0 or any(st % item for st in image.strides):
        return image[index]
    steps = [st // item for st in image.strides]
    lin = np.zeros(index[0].shape, dtype=np.int64)
    for idx, step in zip(index, steps):
        if step:
            lin += idx.astype(np.int64, copy=False) * step
    low = sum(min(0, (n - 1) * st) for n, st in zip(image.shape, steps))
    high = sum(max(0, (n - 1) * st) for n, st in zip(image.shape, steps))
    corner = image[tuple(slice(n - 1, n) if st < 0 else slice(0, 1)
                         for n, st in zip(image.shape, steps))]
    span = np.lib.stride_tricks.as_strided(corner, shape=(high - low + 1,), strides=(item,),
                                           writeable=False)
    return span.take(lin - low)


def percentiles(values, q=QUANTILES) -> np.ndarray:
    """``np.percentile(values, q)`` (linear), by a histogram for integer data of modest range.

    Parameters
    ----------
    values : (n,) array
    q : sequence of float in [0, 100]

    Returns
    -------
    (len(q),) float64 array (NaN when ``values`` is empty)
    """
    values = np.asarray(values)
    n = values.size
    if n == 0:
        return np.full(len(q), np.nan)
    if values.dtype.kind in "iub":
        vmin, vmax = int(values.min()), int(values.max())
        if vmax - vmin <= max(4 * n, 1 << 16):
            shifted = values.astype(np.int64, copy=False) - vmin if vmin else values
            cum = np.cumsum(np.bincount(shifted.ravel(), minlength=vmax - vmin + 1))
            h = (n - 1) * np.asarray(q, float) / 100.0
            k = np.floor(h).astype(np.int64)
            a = np.searchsorted(cum, k, side="right")
            b = np.searchsorted(cum, np.minimum(k + 1, n - 1), side="right")
            return vmin + a + (h - k) * (b - a)
    return np.percentile(values.astype(np.float64, copy=False), q)


class RoiVoxels:
    """The ON voxels of one ROI, found once and reused for every image.

    Parameters
    ----------
    mask : (i, j, k) bool array
    affine_vox2ras : (4, 4) array, optional
        The ROI grid's voxel-to-RAS affine (identity when omitted).
    """

    def __init__(self, mask, affine_vox2ras=None):
        self.mask = np.asarray(mask, dtype=bool)
        self.affine = np.eye(4) if affine_vox2ras is None else np.asarray(affine_vox2ras, float)
        self.flat = np.flatnonzero(np.ascontiguousarray(self.mask))
        self._index = None

    @property
    def count(self) -> int:
        return int(self.flat.size)

    @property
    def index(self) -> tuple:
        """Voxel indices ``(i, j, k)`` of the ON voxels (each an (n,) int array)."""
        if self._index is None:
            self._index = np.unravel_index(self.flat, self.mask.shape)
        return self._index

    def volume_ml(self) -> float:
        return self.count * voxel_volume(self.affine) / 1000.0

    def area_cm2(self) -> float:
        """Area of a single-slice ROI (all ON voxels share one index along some axis); NaN for
        a 3D ROI. Where several axes qualify (a line, a voxel), the slice normal is the axis
        with the largest voxel size (the slice thickness)."""
        if self.count == 0:
            return 0.0
        flat_axes = [ax for ax, n in enumerate(self.mask.shape) if n == 1]
        if not flat_axes:
            flat_axes = [ax for ax, idx in enumerate(self.index) if idx.min() == idx.max()]
        if not flat_axes:
            return math.nan
        sizes = voxel_sizes(self.affine)
        normal = max(flat_axes, key=lambda ax: sizes[ax])
        u, v = (self.affine[:3, ax] for ax in range(3) if ax != normal)
        return self.count * float(np.linalg.norm(np.cross(u, v))) / 100.0

    def values_in(self, image, affine_image=None, *, order=1) -> np.ndarray:
        """Intensities of ``image`` at the ROI's voxels: by index on the same grid, sampled at
        the voxels' world positions otherwise (NaN outside the image)."""
        affine_image = np.eye(4) if affine_image is None else np.asarray(affine_image, float)
        if same_grid(self.mask.shape, self.affine, image.shape, affine_image):
            if isinstance(image, np.ndarray) and image.flags.c_contiguous:
                return image.ravel().take(self.flat)
            if isinstance(image, np.ndarray):
                return gather(image, self.index)
            return np.asarray(image)[self.index]
        m = index_to_index(self.affine, affine_image)
        idx = np.asarray(self.index, dtype=np.float64)
        coords = m[:3, :3] @ idx + m[:3, 3:4]
        return sample_at(image, coords, order=order)


def roi_stats(mask, image, *, affine_roi=None, affine_image=None, order=1) -> dict:
    """Statistics of ``image`` inside one ROI.

    Parameters
    ----------
    mask : (i, j, k) bool array, or RoiVoxels
        The ROI.
    image : (i', j', k') array
        Intensities, on the ROI's grid or any other.
    affine_roi, affine_image : (4, 4) arrays, optional
        Voxel-to-RAS affines of the two grids (identity when omitted).
    order : int
        Interpolation when the grids differ: 0 nearest, 1 trilinear.

    Returns
    -------
    dict
        ``voxels, volume_ml, area_cm2, mean, std, median, p25, p75, outside``.

    Examples
    --------
    >>> m = np.zeros((4, 4, 4), bool); m[1:3, 1:3, 1:3] = True
    >>> roi_stats(m, np.arange(64.0).reshape(4, 4, 4))["mean"]
    31.5
    """
    roi = mask if isinstance(mask, RoiVoxels) else RoiVoxels(mask, affine_roi)
    values = roi.values_in(image, affine_image, order=order)
    outside = 0
    if values.dtype.kind == "f":
        inside = ~np.isnan(values)
        outside = int(values.size - np.count_nonzero(inside))
        if outside:
            values = values[inside]
    row = {"voxels": roi.count, "volume_ml": roi.volume_ml(), "area_cm2": roi.area_cm2()}
    if values.size:
        p25, median, p75 = percentiles(values)
        row.update(mean=float(values.mean(dtype=np.float64)),
                   std=float(values.std(dtype=np.float64)),
                   median=float(median), p25=float(p25), p75=float(p75))
    else:
        row.update(mean=math.nan, std=math.nan, median=math.nan, p25=math.nan, p75=math.nan)
    row["outside"] = outside
    return row


def stats_table(rois, images, *, order=1) -> list[dict]:
    """The table for every (ROI, image) pair.

    Parameters
    ----------
    rois : mapping name -> (mask, affine_vox2ras)
    images : mapping name -> (array, affine_vox2ras)
    order : int
        Interpolation for images on another grid.

    Returns
    -------
    list of dict
        One row per pair, keys :data:`COLUMNS`, ROIs outermost.
    """
    rows = []
    for roi_name, (mask, affine_roi) in rois.items():
        roi = RoiVoxels(mask, affine_roi)
        for image_name, (image, affine_image) in images.items():
            row = {"roi": roi_name, "image": image_name}
            row.update(roi_stats(roi, image, affine_image=affine_image, order=order))
            rows.append(row)
    return rows


def write_csv(rows, file) -> None:
    """Write a statistics table as CSV (a path or an open text file)."""
    if hasattr(file, "write"):
        _write(rows, file)
        return
    with open(file, "w", newline="") as fh:
        _write(rows, fh)


def _write(rows, fh):
    writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
