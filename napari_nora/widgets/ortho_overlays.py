"""Canvas decorations of a workspace view: crosshair, orientation letters, scale bar, help.

The crosshair is a napari scene overlay (model + vispy visual registered with napari), so it
lives in world coordinates and follows each view's own zoom and pan. The four orientation
letters of a view are one canvas overlay (one text visual: every visual is a GL program, and
under software GL each costs megabytes; a mosaic tile adds its slice position); the help is a
napari text overlay, the scale bar napari's own.
"""

from __future__ import annotations

import numpy as np
from napari._vispy.overlays.base import ViewerOverlayMixin, VispyCanvasOverlay, VispySceneOverlay
from napari._vispy.utils.visual import overlay_to_visual
from napari._vispy.visuals.text import Text
from napari.components.overlays import CanvasOverlay, SceneOverlay, TextOverlay
from vispy.scene import Line

from napari_nora.workspace.keys import help_text
from napari_nora.workspace.orientation import edge_labels

CROSSHAIR_COLOR = (1.0, 0.85, 0.1, 0.9)
LABEL_COLOR = (1.0, 0.85, 0.1, 1.0)
EDGES = ("top", "bottom", "left", "right")
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
            self._drawn = None
            self.node.set_data(pos=np.zeros((2, 3), np.float32), color=(0, 0, 0, 0))
            return
        here = point[displayed[::-1]]  # vispy (x, y[, z]) = displayed axes reversed
        key = (tuple(here), tuple(self.overlay.color))
        if key == getattr(self, "_drawn", None):
            return  # e.g. a mosaic when the slice changes: nothing in the plane moved
        self._drawn = key
        # always (x, y, z): vispy keeps its buffer's first width (a main view switched to 3D
        # raised on every draw)
        segments = np.zeros((2 * len(here), 3), np.float32)
        for k in range(len(here)):
            segments[2 * k:2 * k + 2, :len(here)] = here
            segments[2 * k, k], segments[2 * k + 1, k] = -_FAR, _FAR
        self.node.set_data(pos=segments, color=self.overlay.color)

    def reset(self):
        super().reset()
        self._drawn = None
        self._update()


overlay_to_visual[CrosshairOverlay] = VispyCrosshairOverlay


def add_crosshair(model) -> CrosshairOverlay:
    overlay = CrosshairOverlay(visible=True, point=tuple(model.dims.point))
    model.scene.overlays["nora_crosshair"] = overlay
    return overlay


class OrientationOverlay(CanvasOverlay):
    """Anatomical letters at the middle of the four edges of a 2D view (or of each mosaic tile
    when ``gridded``): ``letters`` = (top, bottom, left, right); ``tile_labels`` (gridded):
    each tile's own label at its top-left (its slice position), by the tile index of the layers
    it shows."""

    letters: tuple[str, str, str, str] = ("", "", "", "")
    tile_labels: tuple[str, ...] = ()  # gridded: a label at the top-left of each tile
    color: tuple[float, float, float, float] = LABEL_COLOR
    font_size: float = 14.0
    bottom_margin: float = 28.0  # room for the scale bar under the bottom letter


class VispyOrientationOverlay(ViewerOverlayMixin, VispyCanvasOverlay):
    """One text visual with four strings, placed from the canvas (or grid viewbox) size. It
    takes no room in napari's overlay tiling (size 0 at the top-left corner)."""

    def __init__(self, *, viewer, overlay, parent=None, font_info=None, **kwargs):
        super().__init__(node=Text(text=["", "", "", ""], pos=np.zeros((4, 2)),
                                   anchor_x="center", anchor_y="center", font_info=font_info),
                         viewer=viewer, overlay=overlay, parent=parent, font_info=font_info,
                         **kwargs)
        # a tile's label starts at its left edge (the letters are centred): a text of its own,
        # in a mosaic only (each visual is a GL program)
        self.label = Text(text="", pos=(0, 0), anchor_x="left", anchor_y="center",
                          font_info=font_info, parent=self.node) if overlay.gridded else None
        self.overlay.events.letters.connect(self._update)
        self.overlay.events.tile_labels.connect(self._update)
        self.overlay.events.color.connect(self._update)
        self.overlay.events.font_size.connect(self._update)
        self.overlay.events.bottom_margin.connect(self._update)
        self.viewer.canvas.events.size.connect(self._update)
        self.viewer.canvas.grid.events.connect(self._update)
        for name in ("inserted", "removed", "moved", "reordered"):  # which tile is where
            getattr(self.viewer.layers.events, name).connect(self._update)
        self.reset()

    def _update(self, event=None):
        if self.overlay.gridded and self.viewer.canvas.grid.enabled:
            h, w = self.viewer.canvas.viewbox_size(self.viewer.layers)
        else:
            h, w = self.viewer.canvas.size
        pad_x, pad_y = self.viewer.canvas.overlay_tiling.padding
        m = 0.9 * self.overlay.font_size + 4  # from the edge to the letter's centre
        # the node sits at (pad_x, pad_y) (top-left tile of napari's overlay layout)
        bottom = h - m - self.overlay.bottom_margin
        pos = np.array([(w / 2, m), (w / 2, bottom), (m, h / 2), (w - m, h / 2)], float)
        self.node.pos = pos - (pad_x, pad_y)
        self.node.text = list(self.overlay.letters)
        if self.label is not None:
            self.label.text = self._tile_label()
            size = 0.7 * self.overlay.font_size
            # every tile's label beside the top letter when the longest leaves room, else a
            # line below it (about 0.62 em per character, a point 1.33 pixels)
            longest = max(map(len, self.overlay.tile_labels), default=0)
            crowded = 6 + 0.62 * size * 1.33 * longest > w / 2 - 0.5 * self.overlay.font_size
            y = m + 1.2 * self.overlay.font_size if crowded else m
            self.label.pos = np.array([(6.0, y)]) - (pad_x, pad_y)
            self.label.color = self.overlay.color
            self.label.font_size = size
        self.node.color = self.overlay.color
        self.node.font_size = self.overlay.font_size

    def _tile_label(self) -> str:
        """The label of the tile whose viewbox holds this visual (napari makes one visual per
        occupied viewbox of a gridded overlay)."""
        labels, grid = self.overlay.tile_labels, self.viewer.canvas.grid
        box = self.node.parent
        cells = getattr(getattr(box, "parent", None), "_grid_widgets", {})
        where = next(((r, c) for r, c, _, _, w in cells.values() if w is box), None)
        if not labels or where is None or not grid.enabled:
            return ""
        layers = self.viewer.layers
        for coords, indices in grid.iter_viewboxes(layers):
            if tuple(coords) == where and len(indices):
                tile = getattr(layers[indices[0]], "_nora_tile", None)
                return labels[tile] if tile is not None and tile < len(labels) else ""
        return ""

    def _on_position_change(self, event=None):
        self.x_size = self.y_size = 0.0
        super()._on_position_change()
        if getattr(self, "label", None) is not None:  # napari may have moved it to another tile
            self.label.text = self._tile_label()

    def reset(self):
        super().reset()
        self._update()


overlay_to_visual[OrientationOverlay] = VispyOrientationOverlay


def add_orientation_labels(model, *, gridded: bool = False) -> OrientationOverlay:
    """Letters at the four edges of a 2D view, kept right when dims or camera change."""
    overlay = OrientationOverlay(visible=True, gridded=gridded, position="top_left",
                                 bottom_margin=0.0 if gridded else 28.0)  # tiles: no bar
    model.canvas.overlays["nora_orientation"] = overlay

    def update(event=None):
        flat = model.dims.ndisplay == 2
        letters = edge_labels(model.dims.displayed, model.scene.camera.orientation2d,
                              ndim=model.dims.ndim) if flat and model.dims.ndim >= 3 else {}
        overlay.letters = tuple(letters.get(edge, "") for edge in EDGES)
        overlay.visible = any(overlay.letters)

    model.dims.events.order.connect(update)
    model.dims.events.ndisplay.connect(update)
    model.dims.events.ndim.connect(update)
    model.scene.camera.events.orientation.connect(update)
    update()
    return overlay


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
