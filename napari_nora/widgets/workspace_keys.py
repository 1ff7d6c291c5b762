"""NORA's keys on the workspace's canvases (main viewer and extra views).

napari looks a key up first in the active layer's own keymap, then in its layer class's keymap
(e.g. Space = hold to pan, 1-7 = Labels modes, x/y = plane normal of an Image), and only then
in the viewer's. So the keys are bound on the viewer models *and* on every layer instance of
the workspace (main layers and their mirrors in the extra views), which is what makes them
NORA's keys whatever layer is active. Two exceptions keep napari's own tools working: a key
the layer instance already binds (the ROI tool binds Space and Ctrl-Z on ROI layers, to the
same actions) is left alone, and undo/redo on a plain (non-ROI) Labels layer stay napari's.
"""

from __future__ import annotations

from app_model.types import KeyBinding
from napari.layers import Labels

from napari_nora.display import CT_WINDOWS
from napari_nora.viewer_hook import set_ct_window
from napari_nora.widgets.roi_layers import is_roi

UNDO_KEYS = ("Control-Z", "Control-Shift-Z")


def actions(controller) -> dict:
    """Key name -> zero-argument action, for the workspace of ``controller``."""
    hooks, state, ws = controller.hooks, controller.state, controller.workspace
    out = {k: (lambda k=k: set_ct_window(controller.viewer, k)) for k in [*CT_WINDOWS, "0"]}
    out.update({
        "s": hooks.settings_requested.emit,
        "x": state.slower,
        "y": state.faster,
        "Space": ws.toggle_roi_drawing,
        "Up": lambda: hooks.subject_step.emit(-1),
        "Down": lambda: hooks.subject_step.emit(+1),
        "Control-Z": hooks.undo.emit,
        "Control-Shift-Z": hooks.redo.emit,
        "F1": controller.toggle_help,
    })
    return out


def _handler(name, action):
    def handler(_viewer_or_layer):
        action()

    handler.__name__ = f"nora_{name.replace('-', '_').lower()}"
    return handler


def bind(model, controller) -> None:
    """Bind NORA's keys on a viewer model (they act when no layer is active)."""
    for name, action in actions(controller).items():
        model.bind_key(name, _handler(name, action), overwrite=True)


def bind_layer(layer, controller) -> None:
    """Bind NORA's keys on one layer instance, so they win over its class's keys."""
    plain_labels = isinstance(layer, Labels) and not is_roi(layer)
    for name, action in actions(controller).items():
        if name in UNDO_KEYS and plain_labels:
            continue  # napari's own labels undo
        if KeyBinding.from_str(name) in layer.keymap:
            continue  # the layer's own tool binds it (ROI drawing: same action)
        layer.bind_key(name, _handler(name, action))
