"""An extra workspace view: its own ViewerModel and canvas showing the main viewer's layers.

Each layer of the main viewer gets a *mirror* in the view: a napari layer built from the same
data object (``Layer.create(*layer.as_layer_data_tuple())``, no copy of the array), so the view
can slice it along its own axis and keep its own zoom and pan. Appearance changes on the main
layer are copied to its mirrors when ``accepts(view, prop)`` says so (Shift makes a change per
view, see :mod:`napari_nora.widgets.ortho_appearance`); geometry is always copied. The mosaic
view holds one mirror per tile, each shifted along the slice axis.
"""

from __future__ import annotations

import contextlib

import numpy as np
from napari.components import ViewerModel
from napari.layers import Labels, Layer
from napari.qt import QtViewer
from qtpy.QtCore import QTimer

from napari_nora.workspace.appearance import GEOMETRY_PROPERTIES, SHARED_PROPERTIES
from napari_nora.workspace.layouts import dims_order, mosaic_grid, mosaic_positions, slice_axis

def mirror_layer(layer: Layer) -> Layer:
    """A layer on the same data object as ``layer`` (no array copy)."""
    data, state, kind = layer.as_layer_data_tuple()
    mirror = Layer.create(data, dict(state), kind)
    if hasattr(layer, "contrast_limits_range"):
        mirror.contrast_limits_range = layer.contrast_limits_range
        mirror.contrast_limits = layer.contrast_limits
    if isinstance(layer, Labels):  # one undo history for all views
        mirror._undo_history = layer._undo_history
        mirror._redo_history = layer._redo_history
    return mirror


def stabilize_gl(qt_viewer) -> None:
    """Reparenting a canvas recreates its GL context and resets the depth function; napari
    needs 'lequal' or translucent layers vanish (same fix as napari-orthogonal-views)."""
    scene_canvas = getattr(qt_viewer.canvas, "_scene_canvas", None)
    if scene_canvas is None:
        return

    def apply(event=None):
        with contextlib.suppress(Exception):
            scene_canvas.context.set_depth_func("lequal")
            scene_canvas.update()

    with contextlib.suppress(Exception):
        scene_canvas.events.initialize.connect(apply)
    apply()
    QTimer.singleShot(0, apply)


class OrthoView:
    """One extra view of ``kind`` ('coronal', 'sagittal', 'axial', '3d' or 'mosaic')."""

    def __init__(self, main_viewer, kind: str, *, n_tiles: int = 6, accepts=None,
                 on_mirror=None):
        self.main = main_viewer
        self.kind = kind
        self._accepts = accepts  # (view, prop) -> bool: copy this change to my mirrors?
        self._on_mirror = on_mirror  # called with each new mirror (key bindings)
        self.model = ViewerModel(title=kind)
        self.qt_viewer = QtViewer(self.model)
        self._mirrors: dict[int, tuple[Layer, list[Layer]]] = {}
        self._connections: dict[int, list] = {}
        self.n_tiles = n_tiles if kind == "mosaic" else 1
        self.tile_positions: list[float] = []
        if kind == "3d":
            self.model.dims.ndisplay = 3
        if kind == "mosaic":  # its tiles are fixed slices: no slider
            self.qt_viewer.dims.hide()
            self.model.canvas.events.size.connect(lambda e=None: self._setup_grid())
        self.model.dims.events.ndim.connect(self._apply_order)
        events = self.main.layers.events
        for name in ("inserted", "removed", "moved", "reordered"):
            getattr(events, name).connect(self._sync_layers)
        self._sync_layers()

    # --- layers -------------------------------------------------------------------------
    def mirrors_of(self, layer: Layer) -> list[Layer]:
        entry = self._mirrors.get(id(layer))
        return entry[1] if entry else []

    def _tile_offsets(self, layer: Layer) -> list[np.ndarray]:
        ndim = layer.ndim
        if self.kind != "mosaic" or ndim < 3:
            return [np.zeros(ndim)]
        axis = slice_axis("axial", ndim)
        extent = self.main.layers.extent.world
        lo, hi = float(extent[0][axis]), float(extent[1][axis])
        self.tile_positions = mosaic_positions(lo, hi, self.n_tiles)
        centre = (lo + hi) / 2.0
        offsets = []
        for pos in self.tile_positions:
            off = np.zeros(ndim)
            off[axis] = centre - pos  # at dims point ``centre`` this tile shows slice ``pos``
            offsets.append(off)
        return offsets

    def _add_mirrors(self, layer: Layer) -> list[Layer]:
        mirrors = []
        for tile, off in enumerate(self._tile_offsets(layer)):
            mirror = mirror_layer(layer)
            mirror._nora_tile = tile
            if np.any(off):
                mirror.translate = np.asarray(layer.translate) + off
            mirror._nora_offset = off
            if self._on_mirror is not None:
                self._on_mirror(mirror)
            mirrors.append(mirror)
        self._mirrors[id(layer)] = (layer, mirrors)
        conns = []
        for prop in (*SHARED_PROPERTIES, "contrast_limits_range", *GEOMETRY_PROPERTIES):
            emitter = getattr(layer.events, prop, None)
            if emitter is None:
                continue
            cb = (lambda event=None, lyr=layer, p=prop: self._copy_property(lyr, p))
            emitter.connect(cb)
            conns.append((emitter, cb))
        for name in ("data", "paint", "labels_update", "set_data"):
            emitter = getattr(layer.events, name, None)
            if emitter is not None and name != "set_data":
                cb = (lambda event=None, lyr=layer, n=name: self._refresh_data(lyr, n))
                emitter.connect(cb)
                conns.append((emitter, cb))
        self._connections[id(layer)] = conns
        return mirrors

    def _drop_mirrors(self, key: int) -> None:
        for emitter, cb in self._connections.pop(key, []):
            with contextlib.suppress(Exception):
                emitter.disconnect(cb)
        _, mirrors = self._mirrors.pop(key)
        for mirror in mirrors:
            if mirror in self.model.layers:
                self.model.layers.remove(mirror)

    def _sync_layers(self, event=None) -> None:
        main_layers = list(self.main.layers)
        live = {id(lyr) for lyr in main_layers}
        for key in [k for k in self._mirrors if k not in live]:
            self._drop_mirrors(key)
        desired = []
        per_layer = [self.mirrors_of(lyr) or self._add_mirrors(lyr) for lyr in main_layers]
        if self.kind == "mosaic":  # tile-major: grid stride puts each tile's layers together
            for tile in range(self.n_tiles):
                desired += [m[tile] for m in per_layer if tile < len(m)]
        else:
            desired = [m for ms in per_layer for m in ms]
        before = self.model.layers.selection.active
        for mirror in desired:
            if mirror not in self.model.layers:
                self.model.layers.append(mirror)
        for i, mirror in enumerate(desired):
            j = self.model.layers.index(mirror)
            if j != i:
                self.model.layers.move(j, i)
        self._follow_active(before)
        if self.kind == "mosaic":
            self._setup_grid(len(main_layers))
            self.label_tiles()
        self._apply_order()

    def _follow_active(self, before) -> None:
        """The view's active layer (whose keys a key press reaches: ROI undo, pens) mirrors
        the main viewer's; a helper added there (the pen's preview) never takes it."""
        main = self.main.layers.selection.active
        mirrors = [] if main is None or main.metadata.get("nora_helper") else self.mirrors_of(main)
        target = mirrors[0] if mirrors else before
        if target is not None and target in self.model.layers \
                and self.model.layers.selection.active is not target:
            self.model.layers.selection.active = target

    def label_tiles(self) -> None:
        """Each mosaic tile's slice position, as 3D Slicer labels a slice view ("S: 12.5mm")."""
        overlay = self.model.canvas.overlays.get("nora_orientation")
        if overlay is not None:
            overlay.tile_labels = tuple(f"S: {p:.1f}mm" for p in self.tile_positions)

    def _setup_grid(self, n_sources: int | None = None) -> None:
        """Tiles as large as the canvas allows (one row under the ortho views, a block beside
        the axial view in the lightbox); called again when the canvas is resized."""
        if n_sources is None:
            n_sources = len(self.main.layers)
        grid = self.model.canvas.grid
        grid.stride = max(1, n_sources)
        extent = np.asarray(self.main.layers.extent.world, float)
        tile = (1.0, 1.0)
        if extent.shape[1] >= 3:  # axial tiles show A (height) by R (width)
            tile = tuple(max(extent[1][a] - extent[0][a], 1e-6) for a in (-2, -1))
        grid.shape = mosaic_grid(self.n_tiles, canvas=self.model.canvas.size, tile=tile)
        grid.enabled = n_sources > 0

    def _apply_order(self, event=None) -> None:
        ndim = self.model.dims.ndim
        kind = "axial" if self.kind in ("mosaic", "3d") else self.kind
        order = dims_order(kind, ndim)
        if tuple(self.model.dims.order) != order:
            self.model.dims.order = order
        if self.kind == "mosaic" and ndim >= 3:
            axis = slice_axis("axial", ndim)
            extent = self.main.layers.extent.world
            self.model.dims.set_point(axis, (extent[0][axis] + extent[1][axis]) / 2.0)

    # --- property sync ------------------------------------------------------------------
    def _copy_property(self, layer: Layer, prop: str) -> None:
        if self._accepts is not None and not self._accepts(self, prop):
            return
        value = getattr(layer, prop)
        for mirror in self.mirrors_of(layer):
            with contextlib.suppress(Exception):
                if prop == "translate":
                    value = np.asarray(layer.translate) + mirror._nora_offset
                if prop == "contrast_limits" and hasattr(mirror, "contrast_limits_range"):
                    lo, hi = mirror.contrast_limits_range
                    mirror.contrast_limits_range = (min(lo, value[0]), max(hi, value[1]))
                setattr(mirror, prop, value)

    def _refresh_data(self, layer: Layer, name: str) -> None:
        for mirror in self.mirrors_of(layer):
            if mirror.data is not layer.data:
                mirror.data = layer.data
            else:
                mirror.refresh()

    def close(self) -> None:
        events = self.main.layers.events
        for name in ("inserted", "removed", "moved", "reordered"):
            with contextlib.suppress(Exception):
                getattr(events, name).disconnect(self._sync_layers)
        for key in list(self._mirrors):
            self._drop_mirrors(key)
        self.qt_viewer.setParent(None)
        self.qt_viewer.close()
        self.qt_viewer.deleteLater()
        # napari keeps a closed ViewerModel reachable through its own connections, and our
        # callbacks on it reach this view: drop the canvas so it can go
        self.qt_viewer = None
        self.model.layers.clear()
