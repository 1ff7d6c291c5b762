"""The workspace controller: builds the views of a layout around napari's own canvas and keeps
them on one world position (:class:`~napari_nora.workspace.state.WorkspaceState`).

View 0 is napari's canvas (the main view, axial). The layout's other views are
:class:`~napari_nora.widgets.ortho_view.OrthoView` canvases placed with it in a grid that
replaces the canvas in napari's central widget. Each view syncs only the axes it slices along
(its ``dims.not_displayed``); the crosshair shows the shared point in every 2D view.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QGridLayout, QWidget

from napari_nora import display
from napari_nora.viewer_hook import _target_image
from napari_nora.widgets import ortho_mouse, ortho_overlays, workspace_keys, workspace_links
from napari_nora.widgets.ortho_appearance import AppearanceSync
from napari_nora.widgets.ortho_view import OrthoView, stabilize_gl
from napari_nora.widgets.roi_layers import is_roi
from napari_nora.workspace.layouts import LAYOUTS, arranged, dims_order
from napari_nora.workspace.orientation import view_orientation2d
from napari_nora.workspace.readout import format_readout, readout
from napari_nora.workspace.state import Workspace


#: smallest view size in pixels (napari's slider bar would otherwise claim ~250 px each)
MIN_VIEW_PX = 60
#: 3D view direction in napari world (S, A, R): looking down-back-left at the head
VIEW_3D = (-0.45, -1.0, -0.55)


class MainView:
    """napari's own canvas as a workspace view."""

    kind = "axial"

    def __init__(self, viewer):
        self.model = viewer

    @property
    def qt_viewer(self):  # looked up, not held: napari owns and closes it
        return self.model.window._qt_viewer


def _camera(view) -> tuple:
    """A view's camera (zoom, centre, angles), rounded to compare."""
    cam = view.model.scene.camera
    return (round(cam.zoom, 6), *(round(float(c), 4) for c in (*cam.center, *cam.angles)))


class _EventWatcher(QObject):
    """Calls back on one kind of Qt event of the watched object (a close, a resize)."""

    def __init__(self, kind, callback):
        super().__init__()
        self._kind, self._callback = kind, callback

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == self._kind:
            self._callback()
        return False


def workspace_for(viewer, *, create: bool = True):
    """The workspace controller of ``viewer`` (made on first use); other tools connect to its
    ``hooks`` (ROI drawing, subject stepping, undo/redo) and ``state``."""
    viewer = workspace_links.unwrap(viewer)
    ctl = getattr(viewer, "_nora_workspace", None)
    if ctl is None and create:
        ctl = WorkspaceController(viewer)
    return ctl


class WorkspaceController:
    def __init__(self, viewer, workspace: Workspace | None = None):
        self.viewer = viewer
        self.workspace = workspace or Workspace()
        self.state, self.hooks = self.workspace.state, self.workspace.hooks
        self.main = MainView(viewer)
        self.views: list = [self.main]
        self._container: QWidget | None = None
        self._grid: QGridLayout | None = None
        self._placed: tuple = ()  # the view specs as the grid holds them
        self._fitted: dict = {}  # view -> its camera as reset_views left it
        self._roi_tools: list = []
        self.appearance = AppearanceSync(self)
        viewer._nora_workspace = self
        self._help = ortho_overlays.add_help_overlay(viewer)
        self._close_watcher = _EventWatcher(QEvent.Type.Close, self.close_views)
        self.main.qt_viewer.installEventFilter(self._close_watcher)
        self._decorate(self.main)
        self.state.position = tuple(float(p) for p in viewer.dims.point)
        self.state.events.position.connect(self._on_position_changed)
        self.state.events.layout.connect(self._on_layout_changed)
        self.state.events.crosshair.connect(self._on_crosshair_toggled)
        viewer.dims.events.ndim.connect(self._on_main_ndim)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)
        viewer.layers.events.removed.connect(lambda e: self.appearance.untrack(e.value))
        viewer.scene.camera.events.orientation.connect(self._copy_orientation)
        self.hooks.settings_requested.connect(self._show_settings)
        for layer in viewer.layers:
            self._adopt_layer(layer)
        self._on_layout_changed()
        for tool in workspace_links.roi_tools(viewer):
            self.link_roi_tool(tool)

    # --- views ------------------------------------------------------------------------
    def _decorate(self, view) -> None:
        model = view.model
        flat = view.kind != "3d"
        if flat:  # in a mosaic the crosshair shows the in-plane position in every tile
            view.crosshair = ortho_overlays.add_crosshair(model)
            view.crosshair.visible = self.state.crosshair
            ortho_overlays.show_scale_bar(model)
        if flat:
            ortho_overlays.add_orientation_labels(model, gridded=view.kind == "mosaic")
        if view.kind == "mosaic":
            view.label_tiles()
        ortho_mouse.install(view, self)
        workspace_keys.bind(model, self)
        model.dims.events.point.connect(lambda e=None, v=view: self._on_view_point(v))

    def _sliced_axes(self, view) -> list[int]:
        dims = view.model.dims
        lead = max(0, dims.ndim - 3)
        if view.kind in ("mosaic", "3d"):
            return [a for a in dims.not_displayed if a < lead]
        return list(dims.not_displayed)

    def _on_layout_changed(self, event=None) -> None:
        layout = self._arranged()
        kept = {v.kind: v for v in self.views[1:]}
        wanted = {spec.kind for spec in layout.views[1:]}
        for kind in [k for k in kept if k not in wanted]:
            kept.pop(kind).close()  # views a layout drops are closed: no hidden work or memory
        self.views = [self.main]
        self.viewer.dims.ndisplay = 2
        order = dims_order("axial", self.viewer.dims.ndim)
        if self.viewer.dims.ndim >= 3 and tuple(self.viewer.dims.order) != order:
            self.viewer.dims.order = order
        if len(layout.views) > 1 and self._container is None:
            self._install_grid()
            layout = self._arranged()
        for spec in layout.views[1:]:
            view = kept.get(spec.kind)
            if view is None:
                view = OrthoView(self.viewer, spec.kind, accepts=self.appearance.accepts,
                                 on_mirror=lambda m: workspace_keys.bind_layer(m, self))
                view.model.scene.camera.orientation2d = view_orientation2d(
                    spec.kind, self.viewer.scene.camera.orientation2d)
                self._decorate(view)
                stabilize_gl(view.qt_viewer)
            self.views.append(view)
        self._place(layout)
        for view in self.views[1:]:
            self._push_position(view)
        if self.state.active_view >= len(self.views):
            self.state.active_view = 0
        self._on_position_changed()
        self.reset_views()
        QTimer.singleShot(0, self.reset_views)  # again once Qt has sized the new canvases

    def _place(self, layout) -> None:
        """Put the views into the grid cells of ``layout`` (the extra views by kind)."""
        self._placed = layout.views
        grid = self._grid
        if grid is None:
            return
        for r in range(4):
            grid.setRowStretch(r, 0)
            grid.setColumnStretch(r, 0)
        extra = {v.kind: v for v in self.views[1:]}
        for i, spec in enumerate(layout.views):
            qt_viewer = (self.main if i == 0 else extra[spec.kind]).qt_viewer
            grid.removeWidget(qt_viewer)
            qt_viewer.setMinimumSize(MIN_VIEW_PX, MIN_VIEW_PX)  # slider bars may shrink
            grid.addWidget(qt_viewer, spec.row, spec.col, spec.rowspan, spec.colspan)
        rows, cols = layout.shape
        for r in range(rows):
            grid.setRowStretch(r, 1)
        for c in range(cols):
            grid.setColumnStretch(c, 1)

    def _install_grid(self) -> None:
        qt_window = self.viewer.window._qt_window
        central = qt_window.centralWidget()
        outer = central.layout()
        main_qtv = self.main.qt_viewer
        index = outer.indexOf(main_qtv)
        outer.removeWidget(main_qtv)
        container = QWidget()
        grid = QGridLayout(container)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        outer.insertWidget(max(index, 0), container)
        grid.addWidget(main_qtv, 0, 0)
        stabilize_gl(main_qtv)
        self._container, self._grid = container, grid
        self._resize_watcher = _EventWatcher(QEvent.Type.Resize, self._on_resized)
        container.installEventFilter(self._resize_watcher)

    def _arranged(self):
        layout, box = LAYOUTS[self.state.layout], self._container
        return layout if box is None else arranged(layout, box.width(), box.height())

    def _on_resized(self) -> None:
        """A canvas resized across :data:`~napari_nora.workspace.layouts.TALL_ORTHO`: its
        views are placed again, after the resize (not inside it)."""
        if self._arranged().views != self._placed:
            QTimer.singleShot(0, self._replace_if_needed)

    def _replace_if_needed(self) -> None:
        if len(self.views) > 1 and self._arranged().views != self._placed:  # views not closed
            fitted = [v for v in self.views if self._fitted.get(v) == _camera(v)]
            self._place(self._arranged())  # the same views, in 2D or 3D as they were
            # their shapes changed: those still as fitted are fitted again; a view the user
            # zoomed, panned or turned keeps its camera
            QTimer.singleShot(0, lambda: self.reset_views([v for v in fitted if v in self.views]))

    def close_views(self) -> None:
        """Close the extra views (the viewer is closing): their canvases and mirrors go."""
        for view in self.views[1:]:
            view.close()
        self.views = [self.main]

    def reset_views(self, views=None) -> None:
        """Fit ``views`` (all by default) to their canvases."""
        self._fitted = {v: c for v, c in self._fitted.items() if v in self.views}
        for view in self.views if views is None else views:
            view.model.reset_view()
            if view.kind == "3d":  # from the front, above and to the patient's right
                view.model.scene.camera.set_view_direction(VIEW_3D, up_direction=(1.0, 0.0, 0.0))
            self._fitted[view] = _camera(view)

    def view_of_kind(self, kind: str):
        return next((v for v in self.views[1:] if v.kind == kind), None)

    # --- position ---------------------------------------------------------------------
    def _clamp(self, axis: int, value: float) -> float:
        rng = self.viewer.dims.range[axis]
        return float(np.clip(value, rng.start, rng.stop))

    def _on_view_point(self, view) -> None:
        axes = [a for a in self._sliced_axes(view) if a < len(self.state.position)]
        point = view.model.dims.point
        if axes:
            self.state.set_axes(axes, [point[a] for a in axes])

    def _push_position(self, view) -> None:
        pos = self.state.position
        axes = [a for a in self._sliced_axes(view) if a < len(pos) and a < view.model.dims.ndim]
        cur = view.model.dims.point
        if any(abs(cur[a] - pos[a]) > 1e-9 for a in axes):
            view.model.dims.set_point(axes, [pos[a] for a in axes])

    def _on_position_changed(self, event=None) -> None:
        for view in self.views:
            self._push_position(view)
            overlay = getattr(view, "crosshair", None)
            if overlay is not None:
                overlay.point = tuple(self.state.position)

    def _on_main_ndim(self, event=None) -> None:
        ndim = self.viewer.dims.ndim
        self.state.position = tuple(float(p) for p in self.viewer.dims.point[:ndim])
        order = dims_order("axial", ndim)
        if ndim >= 3 and tuple(self.viewer.dims.order) != order:
            self.viewer.dims.order = order

    def _on_layer_inserted(self, event) -> None:
        self._adopt_layer(event.value)
        point = [float(p) for p in self.viewer.dims.point]
        old = self.state.position
        if len(old) == len(point):  # a layer added to the scene keeps the crosshair where it
            sliced = self._sliced_axes(self.main)  # was: view 1 holds only its slice axes
            point = [p if a in sliced else self._clamp(a, old[a]) for a, p in enumerate(point)]
        self.state.position = tuple(point)

    def _adopt_layer(self, layer) -> None:
        """World space is RAS mm (the geometry contract): every layer's spatial axes are in mm,
        so the scale bars read mm (napari drops units when layers disagree). NORA's keys are
        bound on the layer, and its appearance is shared by the views."""
        n = min(layer.ndim, 3)
        units = [str(u) for u in layer.units]
        if units[-n:] != ["millimeter"] * n:
            layer.units = [*layer.units[:-n], *(["mm"] * n)]
            layer.refresh(force=True)  # napari 0.9 empties the slice when units change
        workspace_keys.bind_layer(layer, self)
        self.appearance.track(layer)

    def move_crosshair(self, view, event) -> None:
        point = np.asarray(event.position, float)
        if view.kind == "mosaic":
            tile = self._mosaic_tile(view, getattr(event, "viewbox", None))
            if tile is None:
                return
            axis = self.viewer.dims.ndim - 3
            point[axis] = view.tile_positions[tile]
        n = min(len(point), self.viewer.dims.ndim)
        self.state.set_axes(range(n), [self._clamp(a, point[a]) for a in range(n)])

    def _mosaic_tile(self, view, grid_coords):
        if grid_coords is None or not view.tile_positions:
            return None
        layers = view.model.layers
        for coords, indices in view.model.canvas.grid.iter_viewboxes(layers):
            if tuple(coords) == tuple(grid_coords) and len(indices):
                return getattr(layers[indices[0]], "_nora_tile", None)
        return None

    def step_slice(self, view, n_steps: int) -> None:
        if not n_steps:
            return
        axis = view.model.dims.not_displayed[-1]
        rng = self.viewer.dims.range[axis]
        value = self.state.position[axis] + n_steps * (rng.step or 1.0)
        self.state.set_axes([axis], [self._clamp(axis, value)])

    def set_active_view(self, view) -> None:
        if view in self.views:
            self.state.active_view = self.views.index(view)

    # --- the ROI tool: space, undo/redo, pens ------------------------------------------
    def link_roi_tool(self, tool) -> None:
        """Space toggles ``tool``'s drawing (both ways: the tool's checkbox shows here too),
        Ctrl-Z / Shift-Ctrl-Z undo and redo on its current ROI, and its edits redraw the ROI
        in every view."""
        if any(t is tool for t in self._roi_tools):
            return
        self._roi_tools.append(tool)
        self.hooks.roi_toggled.connect_setattr(tool.settings, "drawing", maxargs=1)
        tool.settings.events.drawing.connect_setattr(self.state, "roi_drawing", maxargs=1)
        self.hooks.undo.connect(tool.undo)
        self.hooks.redo.connect(tool.redo)
        tool.drawing.changed.connect(self.refresh_mirrors)
        self.state.roi_drawing = tool.settings.drawing

    def pen_tool(self, view, event):
        """The ROI tool whose pen a left/right press in ``view`` is, or None (navigation's):
        drawing is on, an ROI is the active layer of the main viewer, no Shift (NORA: Shift
        suspends drawing), no Ctrl, and ``view`` is a single-plane 2D view (not the mosaic)."""
        if event.button not in (1, 2):
            return None
        return self._drawing_tool(view, event)

    def _drawing_tool(self, view, event):
        if view.kind == "mosaic" or not self.state.roi_drawing:
            return None
        if {"Shift", "Control"} & set(event.modifiers):
            return None
        if not is_roi(self.viewer.layers.selection.active):
            return None
        return next((t for t in self._roi_tools if t.settings.drawing), None)

    def hover_in(self, view, event) -> None:
        """The mouse moved in an extra view: show the pen's preview in that view's plane (in
        view 1 the ROI layer's own callback does)."""
        if view is self.main or not self.state.roi_drawing:  # off: already hidden
            return
        tool = self._drawing_tool(view, event)
        if tool is not None:
            tool.drawing.hover(self.viewer.layers.selection.active, event, dims=view.model.dims)
        else:  # Shift, Ctrl, drawing off or no ROI active: no pen here
            for t in self._roi_tools:
                t.drawing.hide_preview()

    def draw_in(self, view, tool, event):
        """A pen stroke in an extra view (a mouse-drag generator): ``tool`` draws on the source
        ROI in this view's plane (its dims), so the stroke is one step of the ROI's own undo
        history; the view's mirror redraws as it goes, the other views when it ends."""
        layer = self.viewer.layers.selection.active
        mirrors = view.mirrors_of(layer)
        for _ in tool.drawing.drag(layer, event, dims=view.model.dims):
            for mirror in mirrors:
                mirror.refresh()
            yield

    def refresh_mirrors(self, layer) -> None:
        """Redraw ``layer`` in the extra views (after an ROI edit in place)."""
        for view in self.views[1:]:
            for mirror in view.mirrors_of(layer):
                mirror.refresh()

    # --- appearance -------------------------------------------------------------------
    def window_level_target(self, view, *, shift: bool):
        layer = _target_image(self.viewer)
        if layer is None or layer.rgb:
            return None
        if shift and view is not self.main:
            mirrors = view.mirrors_of(layer)
            return mirrors[0] if mirrors else None
        return layer

    def _copy_orientation(self, event=None) -> None:
        o2d = self.viewer.scene.camera.orientation2d
        for view in self.views[1:]:
            view.model.scene.camera.orientation2d = view_orientation2d(view.kind, o2d)

    def set_convention(self, convention: str) -> None:
        self.viewer.scene.camera.orientation2d = display.ORIENTATION_2D[convention]

    def _on_crosshair_toggled(self, event=None) -> None:
        for view in self.views:
            overlay = getattr(view, "crosshair", None)
            if overlay is not None:
                overlay.visible = self.state.crosshair

    # --- readout, help, settings -------------------------------------------------------
    def readout(self):
        return readout(self.viewer.layers, self.state.position)

    def readout_text(self) -> str:
        if len(self.state.position) < 3:
            return ""
        return format_readout(self.state.position, self.readout())

    def toggle_help(self) -> None:
        self._help.visible = not self._help.visible

    def _show_settings(self) -> None:
        """Key ``s``: show the display settings dock (made on first use)."""
        window = getattr(self.viewer, "window", None)
        if window is None:
            return
        widget = window.dock_widgets.get("Display settings")
        if widget is None:
            from napari_nora.widgets.display_settings import DisplaySettings

            widget = DisplaySettings(self.viewer)
            window.add_dock_widget(widget, name="Display settings", area="right")
        dock = widget.native.parent() if hasattr(widget, "native") else widget.parent()
        if dock is not None:
            dock.show()
            dock.raise_()
