"""Appearance of a layer in the workspace views: shared, or per view with Shift (NORA).

A change of a shared property (colormap, contrast limits, opacity, outline, ...) on a main layer
reaches every view; with Shift held it reaches only the active view (the view the mouse last
worked in, :func:`napari_nora.workspace.appearance.reaches`). When that view is an extra view,
the main layer goes back to the value all views shared, after the change has been handled
(the layer controls show the main view's value). A Shift+middle drag in an extra view windows
that view's own copy of the layer directly.
"""

from __future__ import annotations

import contextlib
import copy

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

from napari_nora.workspace.appearance import SHARED_PROPERTIES, reaches


def shift_held() -> bool:
    from qtpy.QtCore import Qt

    return bool(QApplication.keyboardModifiers() & Qt.KeyboardModifier.ShiftModifier)


class AppearanceSync:
    """Decides which views a change of a main layer's appearance reaches."""

    def __init__(self, controller):
        self.controller = controller
        self._shared: dict[tuple[int, str], object] = {}  # value all views agree on
        self._connections: dict[int, list] = {}
        self._reverting = False

    def track(self, layer) -> None:
        if id(layer) in self._connections:
            return
        conns = []
        for prop in SHARED_PROPERTIES:
            emitter = getattr(layer.events, prop, None)
            if emitter is None or not hasattr(layer, prop):
                continue
            self._shared[(id(layer), prop)] = copy.copy(getattr(layer, prop))
            cb = (lambda event=None, lyr=layer, p=prop: self._on_changed(lyr, p))
            emitter.connect(cb)
            conns.append((emitter, cb))
        self._connections[id(layer)] = conns

    def untrack(self, layer) -> None:
        for emitter, cb in self._connections.pop(id(layer), []):
            with contextlib.suppress(Exception):
                emitter.disconnect(cb)
        for key in [k for k in self._shared if k[0] == id(layer)]:
            del self._shared[key]

    def accepts(self, view, prop: str) -> bool:
        """Whether ``view`` copies a change of ``prop`` from the main layer to its mirrors."""
        if prop not in SHARED_PROPERTIES:
            return True  # geometry: always
        if self._reverting:
            return False
        views = self.controller.views
        index = views.index(view) if view in views else -1
        return reaches(index, self.controller.state.active_view, shift=shift_held())

    def _on_changed(self, layer, prop: str) -> None:
        if self._reverting:
            return
        if not shift_held():
            self._shared[(id(layer), prop)] = copy.copy(getattr(layer, prop))
            return
        if self.controller.state.active_view != 0:  # an extra view took it, not the main view
            QTimer.singleShot(0, lambda: self._revert(layer, prop))

    def _revert(self, layer, prop: str) -> None:
        key = (id(layer), prop)
        if key not in self._shared:
            return
        self._reverting = True
        try:
            setattr(layer, prop, self._shared[key])
        finally:
            self._reverting = False
