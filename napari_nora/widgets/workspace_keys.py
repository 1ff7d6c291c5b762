"""NORA's keys on a napari canvas (main viewer or extra view), acting on the workspace."""

from __future__ import annotations

from napari_nora.display import CT_WINDOWS
from napari_nora.viewer_hook import set_ct_window


def bind(model, controller) -> None:
    """Bind CT windows 1-6/0, s, x, y, Space, Up, Down, Ctrl-Z, Shift-Ctrl-Z and F1 on ``model``."""
    hooks, state, ws = controller.hooks, controller.state, controller.workspace

    def key(name, action):
        def handler(viewer):
            action()

        handler.__name__ = f"nora_{name.replace('-', '_').lower()}"
        model.bind_key(name, handler, overwrite=True)

    for k in [*CT_WINDOWS, "0"]:
        key(k, lambda k=k: set_ct_window(controller.viewer, k))
    key("s", hooks.settings_requested.emit)
    key("x", state.slower)
    key("y", state.faster)
    key("Space", ws.toggle_roi_drawing)
    key("Up", lambda: hooks.subject_step.emit(-1))
    key("Down", lambda: hooks.subject_step.emit(+1))
    key("Control-Z", hooks.undo.emit)
    key("Control-Shift-Z", hooks.redo.emit)
    key("F1", controller.toggle_help)
