"""Workspace dock: layout selector, crosshair toggle, readout under the crosshair, keys help."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtGui import QFont
from qtpy.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_nora.widgets.workspace_views import workspace_for
from napari_nora.widgets.workspace_links import unwrap
from napari_nora.workspace.layouts import LAYOUTS

if TYPE_CHECKING:
    import napari


class WorkspaceWidget(QWidget):
    """Dock widget of the viewer workspace (``napari-nora.workspace`` in the manifest)."""

    def __init__(self, viewer: napari.viewer.Viewer, layout: str | None = None):
        super().__init__()
        # napari hands plugin docks a PublicOnlyProxy; the workspace re-parents napari's canvas
        # and keys its views by layer identity, so it works on the viewer itself
        viewer = unwrap(viewer)
        self.controller = workspace_for(viewer)
        state = self.controller.state
        self._layout = QComboBox()
        for name, spec in LAYOUTS.items():
            self._layout.addItem(spec.title, name)
        self._crosshair = QCheckBox("Crosshair")
        self._speed = QLabel()
        self._active = QLabel()
        self._active.setToolTip("The view you last clicked or scrolled in: a change made with "
                                "Shift held goes to this view only")
        self._readout = QLabel()
        self._readout.setFont(QFont("monospace"))
        self._readout.setWordWrap(True)
        help_btn = QPushButton("Keys and mouse (F1)")
        help_btn.clicked.connect(self.controller.toggle_help)
        box = QVBoxLayout(self)
        for w in (QLabel("Layout"), self._layout, self._crosshair, self._speed, self._active,
                  self._readout, help_btn):
            box.addWidget(w)
        box.addStretch(1)
        self._layout.currentIndexChanged.connect(
            lambda i: setattr(state, "layout", self._layout.itemData(i)))
        self._crosshair.toggled.connect(lambda on: setattr(state, "crosshair", on))
        state.events.layout.connect(self._on_state_changed)
        state.events.crosshair.connect(self._on_state_changed)
        state.events.scroll_speed.connect(self._on_state_changed)
        state.events.active_view.connect(self._on_state_changed)
        state.events.position.connect(self._on_position_changed)
        viewer.layers.events.inserted.connect(self._on_position_changed)
        self._on_state_changed()
        self._on_position_changed()
        if layout is not None:
            state.layout = layout

    def _on_state_changed(self, event=None) -> None:
        state = self.controller.state
        for w in (self._layout, self._crosshair):
            w.blockSignals(True)
        self._layout.setCurrentIndex(self._layout.findData(state.layout))
        self._crosshair.setChecked(state.crosshair)
        for w in (self._layout, self._crosshair):
            w.blockSignals(False)
        self._speed.setText(f"Scrolling: {state.scroll_speed:g} slice(s) per wheel notch (x/y)")
        views = self.controller.views
        kind = views[state.active_view].kind if state.active_view < len(views) else "-"
        self._active.setText(f"Active view: {state.active_view + 1} ({kind}); Shift = this view")

    def _on_position_changed(self, event=None) -> None:
        self._readout.setText(self.controller.readout_text())
