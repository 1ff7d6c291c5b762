"""Canvas decorations of a workspace view: crosshair, orientation letters, scale bar, help.

The crosshair is a napari scene overlay (model + vispy visual registered with napari), so it
lives in world coordinates and follows each view's own zoom and pan. Orientation letters and
the help are napari text overlays; the scale bar is napari's own.
"""

from __future__ import annotations

import numpy as np
from napari._vispy.overlays.base import ViewerOverlayMixin, VispySceneOverlay
from napari._vispy.utils.visual import overlay_to_visual
from napari.components.overlays import SceneOverlay, TextOverlay
from vispy.scene import Line

from napari_nora.workspace.keys import help_text
from napari_nora.workspace.orientation import edge_labels

CROSSHAIR_COLOR = (1.0, 0.85, 0.1, 0.9)
LABEL_COLOR = (1.0, 0.85, 0.1, 1.0)
EDGE_POSITIONS = {"top": "top_center", "bottom": "bottom_center", "left": "middle_left",
                  "right": "middle_right"}
_FAR = 1e6


class CrosshairOverlay(SceneOverlay):
    """Crosshair at a world point (napari world order); drawn through it along displayed axes."""

    point: tuple[float, ...] = ()
    color: tuple[float, float, float, float] = CROSSHAIR_COLOR
    blending: str = "translucent_no_depth"


class VispyCrosshairOverlay(ViewerOverlayMixin, VispySceneOverlay):
    def __init__(self, *, viewer, overlay, parent=None, **kwargs):
        super().__init__(node=Line(connect="segments", width=1.5, antialias=True),
                         viewer=viewer, overlay=overlay, parent=parent, **kwargs)
        self.overlay.events.point.connect(self._update)
        self.overlay.events.color.connect(self._update)
        self.viewer.dims.events.order.connect(self._update)
        self.viewer.dims.events.ndisplay.connect(self._update)
        self.reset()

    def _update(self, event=None):
        point = np.asarray(self.overlay.point, float)
        displayed = list(self.viewer.dims.displayed)
        if point.size < self.viewer.dims.ndim or not displayed:
            self.node.set_data(pos=np.zeros((2, 2)), color=(0, 0, 0, 0))
            return
        here = point[displayed[::-1]]  # vispy (x, y[, z]) = displayed axes reversed
        segments = []
        for k in range(len(here)):
            a, b = here.copy(), here.copy()
            a[k], b[k] = -_FAR, _FAR
            segments += [a, b]
        self.node.set_data(pos=np.asarray(segments, np.float32), color=self.overlay.color)

    def reset(self):
        super().reset()
        self._update()


overlay_to_visual[CrosshairOverlay] = VispyCrosshairOverlay


def add_crosshair(model) -> CrosshairOverlay:
    overlay = CrosshairOverlay(visible=True, point=tuple(model.dims.point))
    model.scene.overlays["nora_crosshair"] = overlay
    return overlay


def add_orientation_labels(model, *, gridded: bool = False) -> None:
    """Letters at the four edges of a 2D view, kept right when dims or camera change."""
    overlays = {}
    for edge, position in EDGE_POSITIONS.items():
        overlay = TextOverlay(text="", position=position, visible=True, font_size=14,
                              color=LABEL_COLOR, box=False, gridded=gridded)
        model.canvas.overlays[f"nora_orient_{edge}"] = overlay
        overlays[edge] = overlay

    def update(event=None):
        flat = model.dims.ndisplay == 2
        letters = edge_labels(model.dims.displayed, model.scene.camera.orientation2d,
                              ndim=model.dims.ndim) if flat and model.dims.ndim >= 3 else {}
        for edge, overlay in overlays.items():
            overlay.text = letters.get(edge, "")
            overlay.visible = bool(overlay.text)

    model.dims.events.order.connect(update)
    model.dims.events.ndisplay.connect(update)
    model.dims.events.ndim.connect(update)
    model.scene.camera.events.orientation.connect(update)
    update()


def show_scale_bar(model) -> None:
    bar = model.canvas.overlays["scale_bar"]
    bar.visible = True
    bar.position = "bottom_right"
    bar.font_size = 9


def add_help_overlay(model) -> TextOverlay:
    overlay = TextOverlay(text=help_text(), position="top_left", visible=False, font_size=9,
                          color=(1, 1, 1, 1), box=True)
    model.canvas.overlays["nora_help"] = overlay
    return overlay
