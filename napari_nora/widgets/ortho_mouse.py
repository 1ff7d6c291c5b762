"""NORA's mouse on a napari canvas (any ViewerModel: the main viewer or an extra view).

wheel = slice, Ctrl+wheel = zoom about the cursor, right drag = pan, left click/drag = move the
crosshair (all views follow), middle drag = window/level of the active image (Shift: this view
only). Ctrl+left drag is left to other tools (the navigation tool). While ROI drawing is on
(space) and an ROI is active, left and right presses in a 2D view (not the mosaic) are the ROI
pen's (draw, erase in that view's plane; the pen's preview follows the mouse there); Shift
suspends drawing, as in NORA. 3D views keep napari's own camera (left drag rotates, wheel
zooms). In 2D the vispy camera is kept non-interactive so the buttons do only what is listed
here; napari resets the camera flags when the active layer changes, so they are forced back.
"""

from __future__ import annotations

import numpy as np
from napari.components._viewer_mouse_bindings import dims_scroll, double_click_to_zoom

from napari_nora.workspace.navigation import SliceScroller, wheel_zoom_factor, window_level_drag

LEFT, RIGHT, MIDDLE = 1, 2, 3


def _pan_zoom_mode(model) -> bool:
    layer = model.layers.selection.active
    return layer is None or getattr(layer, "mode", "pan_zoom") in ("pan_zoom", "transform")


def _flat(view) -> bool:
    return view.model.dims.ndisplay == 2


def install(view, controller) -> None:
    """Give ``view`` (has ``.model`` and ``.kind``) NORA's mouse, acting through ``controller``."""
    model = view.model
    scroller = SliceScroller()
    camera = model.scene.camera

    def keep_camera_passive(event=None):
        if _flat(view) and (camera.mouse_pan or camera.mouse_zoom):
            camera.mouse_pan = False
            camera.mouse_zoom = False

    camera.events.mouse_pan.connect(keep_camera_passive)
    camera.events.mouse_zoom.connect(keep_camera_passive)
    model.dims.events.ndisplay.connect(
        lambda e=None: keep_camera_passive() if _flat(view) else _camera_active(camera))
    keep_camera_passive()

    for cb in (dims_scroll,):
        if cb in model.mouse_wheel_callbacks:
            model.mouse_wheel_callbacks.remove(cb)
    if double_click_to_zoom in model.mouse_double_click_callbacks:
        model.mouse_double_click_callbacks.remove(double_click_to_zoom)

    def on_wheel(viewer, event):
        if not _flat(view):
            return
        notches = float(np.clip(event.delta[1], -3, 3))
        native = getattr(event, "native", None)
        if native is not None and hasattr(native, "inverted") and native.inverted():
            notches = -notches
        controller.set_active_view(view)
        if "Control" in event.modifiers:
            anchor = np.asarray(event.position)[list(model.dims.displayed)]
            zoom_at(model, wheel_zoom_factor(notches), anchor)
        elif view.kind != "mosaic":
            controller.step_slice(view, scroller.steps(notches, controller.state.scroll_speed))
        event.handled = True

    def on_drag(viewer, event):
        if not _flat(view):
            return
        controller.set_active_view(view)
        tool = controller.pen_tool(view, event)
        if tool is not None:  # in the main view the ROI layer's own callback draws
            if view is not controller.main:
                yield from controller.draw_in(view, tool, event)
            return
        mods = event.modifiers
        if event.button == LEFT and "Control" not in mods and _pan_zoom_mode(model):
            controller.move_crosshair(view, event)
            yield
            while event.type == "mouse_move":
                controller.move_crosshair(view, event)
                yield
        elif event.button == RIGHT and _pan_zoom_mode(model):
            displayed = list(model.dims.displayed)
            grab = np.asarray(event.position)[displayed]
            yield
            while event.type == "mouse_move":
                here = np.asarray(event.position)[displayed]
                center = np.asarray(camera.center[-2:]) + (grab - here)
                camera.center = (*camera.center[:-2], *center)
                yield
        elif event.button == MIDDLE:
            layer = controller.window_level_target(view, shift="Shift" in mods)
            if layer is None:
                return
            start = np.asarray(event.pos, float)
            limits0 = tuple(layer.contrast_limits)
            data_range = tuple(layer.contrast_limits_range)
            yield
            while event.type == "mouse_move":
                dx, dy = np.asarray(event.pos, float) - start
                lo, hi = window_level_drag(limits0, dx, dy, data_range=data_range)
                rlo, rhi = layer.contrast_limits_range
                if lo < rlo or hi > rhi:
                    layer.contrast_limits_range = (min(lo, rlo), max(hi, rhi))
                layer.contrast_limits = (lo, hi)
                yield

    def on_move(viewer, event):
        if _flat(view):
            controller.hover_in(view, event)

    model.mouse_wheel_callbacks.insert(0, on_wheel)
    model.mouse_drag_callbacks.insert(0, on_drag)
    model.mouse_move_callbacks.insert(0, on_move)


def _camera_active(camera) -> None:
    camera.mouse_pan = True
    camera.mouse_zoom = True


def zoom_at(model, factor: float, anchor) -> None:
    """Zoom a 2D view by ``factor`` keeping world point ``anchor`` (displayed axes) in place."""
    from napari_nora.workspace.navigation import zoom_about

    camera = model.scene.camera
    zoom, center = zoom_about(camera.center[-2:], camera.zoom, factor, anchor)
    camera.zoom = zoom
    camera.center = (*camera.center[:-2], *center)
