"""Turn a source volume plus its ``vox2ras`` affine into napari layer data.

The one place where reader output meets the geometry contract: every reader builds its layers
through :func:`volume_layer` (or :func:`surface_layer`), so every layer carries the transform
from its array indices to RAS mm in napari's (S, A, R) order and the metadata the writers need
to go back to the source grid.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from napari_nora import geometry
from napari_nora.display import robust_limits
from napari_nora.readers.fastgz import StreamedRead
from napari_nora.readers.streamed import StreamedView

LayerData = tuple  # (data, kwargs, layer_type)


def _spatial_meta(geom, affine_vox2ras, shape_vox, path, extra):
    meta = {
        "affine_vox2ras": np.asarray(affine_vox2ras, dtype=float),
        "source_shape": tuple(int(s) for s in shape_vox),
        "disp2vox": geom.disp2vox,
        "disp2ras": geom.disp2ras,
        "oblique": geom.oblique,
        "source_path": str(path) if path else None,
    }
    meta.update(extra or {})
    return meta


class LazyTimeSeries:
    """Array-like ``(t, z, y, x)`` that loads one volume at a time on demand.

    ``get_volume(t)`` returns volume ``t`` on the display grid. The last few volumes are kept,
    so scrubbing back and forth stays fast, and a multi-GB fMRI opens without reading it all.
    """

    def __init__(self, get_volume, n_volumes, shape_disp, dtype, *, cache=4):
        self._get = get_volume
        self.shape = (int(n_volumes), *map(int, shape_disp))
        self.dtype = np.dtype(dtype)
        self.ndim = 4
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache

    @property
    def size(self):
        return int(np.prod(self.shape))

    def volume(self, t: int) -> np.ndarray:
        t = int(t) % self.shape[0]
        if t in self._cache:
            self._cache.move_to_end(t)
            return self._cache[t]
        vol = np.asarray(self._get(t), dtype=self.dtype)
        self._cache[t] = vol
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vol

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        t_key, rest = key[0], key[1:]
        if isinstance(t_key, (int, np.integer)):
            return self.volume(t_key)[rest]
        ts = np.arange(self.shape[0])[t_key]
        return np.stack([self.volume(t)[rest] for t in ts])

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __len__(self):
        return self.shape[0]


def volume_layer(
    vol_vox,
    affine_vox2ras,
    *,
    name: str,
    path=None,
    layer_type: str = "image",
    rgb: bool = False,
    metadata: dict | None = None,
    contrast_limits=None,
    **kwargs,
) -> LayerData:
    """Layer data for a 3D volume (``(i, j, k)``), an RGB volume (``(i, j, k, c)``) or a
    time series given as ``(n_volumes, get_volume)`` with ``get_volume(t) -> (i, j, k)``.

    Parameters
    ----------
    vol_vox : array, or tuple (int, callable)
        Source voxels in their own index order, or a lazy time series.
    affine_vox2ras : (4, 4) array
        Voxel index to RAS mm.
    """
    streamed = isinstance(vol_vox, StreamedRead)
    lazy = isinstance(vol_vox, tuple)
    if lazy:
        n_vol, get_vox = vol_vox
        first = np.asarray(get_vox(0))
        shape_vox = first.shape[:3]
    else:
        shape_vox = vol_vox.shape[:3] if not streamed else vol_vox.array.shape[:3]
    geom = geometry.display_geometry(affine_vox2ras, shape_vox)
    if streamed and geom.oblique:
        vol_vox.wait()
        vol_vox, streamed = vol_vox.array, False
    order = 0 if layer_type == "labels" else 1

    def to_disp(v):
        v = np.asarray(v)
        if not v.dtype.isnative:  # big-endian files: native order for numpy/vispy
            v = v.astype(v.dtype.newbyteorder("="))
        if not geom.oblique:
            return geometry.aligned_view(v, geom)
        if v.ndim == 4:  # RGB: resample channel by channel
            return np.stack(
                [geometry.resample_to_display(v[..., c], geom, order=order) for c in range(v.shape[3])],
                axis=-1,
            )
        return geometry.resample_to_display(v, geom, order=order)

    scale, translate = list(geom.scale), list(geom.translate)
    if lazy:
        first_disp = to_disp(first)
        data = LazyTimeSeries(lambda t: to_disp(get_vox(t)), n_vol, first_disp.shape,
                              first_disp.dtype)
        data._cache[0] = first_disp
        sample = first_disp
        scale, translate = [1.0, *scale], [0.0, *translate]
        kwargs.setdefault("axis_labels", ("t", "S", "A", "R"))
    elif streamed:
        data = StreamedView(vol_vox, geom)
        sample = data[data.shape[0] // 2]  # the slice napari shows first
        kwargs.setdefault("axis_labels", ("S", "A", "R"))
    else:
        data = to_disp(vol_vox)
        sample = data
        kwargs.setdefault("axis_labels", ("S", "A", "R"))
    kwargs.update(
        name=name,
        scale=scale,
        translate=translate,
        units=spatial_units(len(scale)),
        metadata=_spatial_meta(geom, affine_vox2ras, shape_vox, path, metadata),
    )
    if layer_type == "image":
        kwargs["rgb"] = rgb
        if not rgb:
            kwargs["contrast_limits"] = (
                contrast_limits if contrast_limits is not None else robust_limits(sample)
            )
    return (data, kwargs, layer_type)


def surface_layer(vertices_ras, faces, *, name: str, path=None, values=None,
                  metadata=None, **kwargs) -> LayerData:
    """Layer data for a triangle mesh with vertices in RAS mm (napari Surface layer)."""
    verts_sar = geometry.ras_to_napari(vertices_ras).astype(np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    data = (verts_sar, faces) if values is None else (verts_sar, faces, np.asarray(values))
    meta = {"source_path": str(path) if path else None}
    meta.update(metadata or {})
    kwargs.setdefault("axis_labels", ("S", "A", "R"))
    kwargs.update(name=name, metadata=meta, units=spatial_units(3))
    return (data, kwargs, "surface")


def spatial_units(ndim: int) -> tuple[str, ...]:
    """napari units of a layer: mm on the (S, A, R) axes, napari's default on a leading time
    axis. Given at creation: napari 0.9 leaves a layer's slice empty when its units change
    after it joined the viewer, and drops all units when layers disagree."""
    return ("pixel",) * (ndim - 3) + ("mm",) * min(ndim, 3)


def layer_name(path) -> str:
    """File name without its (possibly double) medical suffix."""
    p = Path(path)
    name = p.name
    for suf in (".nii.gz", ".nii", ".hdr", ".img", ".mgz", ".mgh", ".nrrd", ".nhdr",
                ".gii", ".stl", ".dcm", ".zip"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name
