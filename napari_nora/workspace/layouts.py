"""Viewport layouts and view orientations.

napari world axes are ``(S, A, R)`` = ``(0, 1, 2)`` (see :mod:`napari_nora.geometry`). A 2D view
shows the last two axes of its ``dims.order`` and slices along the others:

* axial: slice along S, show (A, R)
* coronal: slice along A, show (S, R)
* sagittal: slice along R, show (S, A)

A layout is a grid of views; view 0 is always napari's own canvas (the main view), the others
are extra canvases that show the same layers.
"""

from __future__ import annotations

from dataclasses import dataclass

#: dims order of the three spatial axes for each 2D orientation (last two are displayed)
ORIENTATIONS: dict[str, tuple[int, int, int]] = {
    "axial": (0, 1, 2),
    "coronal": (1, 0, 2),
    "sagittal": (2, 0, 1),
}
KINDS = (*ORIENTATIONS, "3d", "mosaic")


@dataclass(frozen=True)
class ViewSpec:
    """One viewport: what it shows and where it sits in the layout grid."""

    kind: str  # 'axial' | 'coronal' | 'sagittal' | '3d' | 'mosaic'
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"view kind must be one of {KINDS}, not {self.kind!r}")


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    views: tuple[ViewSpec, ...]

    @property
    def shape(self) -> tuple[int, int]:
        rows = max(v.row + v.rowspan for v in self.views)
        cols = max(v.col + v.colspan for v in self.views)
        return rows, cols


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("single", "Single view", (ViewSpec("axial", 0, 0),)),
        Layout("ortho", "Axial + coronal + sagittal",
               (ViewSpec("axial", 0, 0), ViewSpec("coronal", 0, 1), ViewSpec("sagittal", 0, 2))),
        Layout("ortho3d", "Axial + coronal + sagittal + 3D",
               (ViewSpec("axial", 0, 0), ViewSpec("coronal", 0, 1), ViewSpec("sagittal", 0, 2),
                ViewSpec("3d", 0, 3))),
        Layout("2x2", "2 x 2 (axial, coronal, sagittal, 3D)",
               (ViewSpec("axial", 0, 0), ViewSpec("coronal", 0, 1), ViewSpec("sagittal", 1, 0),
                ViewSpec("3d", 1, 1))),
        Layout("mosaic", "Ortho + mosaic (NORA default)",
               (ViewSpec("axial", 0, 0), ViewSpec("coronal", 0, 1), ViewSpec("sagittal", 0, 2),
                ViewSpec("mosaic", 1, 0, colspan=3))),
        Layout("lightbox", "Lightbox (many axial slices)",
               (ViewSpec("axial", 0, 0), ViewSpec("mosaic", 0, 1, colspan=2))),
    )
}


#: the ortho views on a canvas narrower than this (width / height) are one large axial view
#: beside the coronal above the sagittal: three in a row would each be a tall strip whose image
#: is a third of the width (the two arrangements give the same smallest view at 1.5)
TALL_ORTHO = 1.5


def arranged(layout: Layout, width: float, height: float) -> Layout:
    """``layout`` as placed on a canvas of ``width`` x ``height`` (see :data:`TALL_ORTHO`)."""
    if layout.name != "ortho" or height <= 0 or width / height >= TALL_ORTHO:
        return layout
    return Layout(layout.name, layout.title, (ViewSpec("axial", 0, 0, rowspan=2),
                                              ViewSpec("coronal", 0, 1),
                                              ViewSpec("sagittal", 1, 1)))


def dims_order(kind: str, ndim: int) -> tuple[int, ...]:
    """napari ``dims.order`` for a view of ``kind`` on data with ``ndim`` dimensions.

    Leading non-spatial axes (time, ...) come first, so the last three axes are (S, A, R).

    >>> dims_order("coronal", 4)
    (0, 2, 1, 3)
    """
    if ndim < 3:
        return tuple(range(ndim))
    spatial = ORIENTATIONS.get(kind, ORIENTATIONS["axial"])
    lead = ndim - 3
    return (*range(lead), *(lead + a for a in spatial))


def slice_axis(kind: str, ndim: int) -> int:
    """The world axis a 2D view of ``kind`` slices along (e.g. 0 = S for axial on 3D data)."""
    return dims_order(kind, ndim)[-3] if ndim >= 3 else 0


def mosaic_grid(n_tiles: int, *, canvas=(1.0, 6.0), tile=(1.0, 1.0)) -> tuple[int, int]:
    """(rows, cols) of a mosaic that shows ``n_tiles`` tiles of shape ``tile`` (height, width)
    as large as possible in a canvas of shape ``canvas`` (height, width); ties go to fewer rows.

    >>> mosaic_grid(6, canvas=(200, 1200)), mosaic_grid(6, canvas=(800, 400))
    ((1, 6), (3, 2))
    """
    n_tiles = max(1, int(n_tiles))
    best = None
    for rows in range(1, n_tiles + 1):
        cols = -(-n_tiles // rows)
        if (rows - 1) * cols >= n_tiles:
            continue  # a row would stay empty
        scale = min(canvas[0] / (rows * tile[0]), canvas[1] / (cols * tile[1]))
        if best is None or scale > best[0] * (1 + 1e-9):
            best = (scale, rows, cols)
    return best[1], best[2]


def mosaic_positions(lo: float, hi: float, n_tiles: int, *, margin: float = 0.1) -> list[float]:
    """``n_tiles`` slice positions (world mm) spread evenly over ``[lo, hi]``, leaving a
    ``margin`` fraction out at both ends (the first and last slices are usually empty)."""
    if n_tiles < 1:
        return []
    span = hi - lo
    a, b = lo + margin * span, hi - margin * span
    if n_tiles == 1:
        return [(a + b) / 2.0]
    step = (b - a) / (n_tiles - 1)
    return [a + k * step for k in range(n_tiles)]

