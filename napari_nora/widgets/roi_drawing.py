"""Mouse and keyboard drawing on ROI layers: the pens of ``napari_nora.roi`` wired to napari.

No Qt here: :class:`PenSettings` is the evented state the dock widget edits, and
:class:`RoiDrawing` installs callbacks on ROI layers. Left button draws, right button erases,
Shift suspends drawing, Space toggles drawing mode, Ctrl-Z / Shift-Ctrl-Z undo and redo.
Drawing happens in the 2D view, in the plane shown (or with a 3D ball when the pen is 3D);
another canvas showing the same ROI (a workspace view) draws through :meth:`RoiDrawing.drag`
with its own dims, in the same undo history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal, evented

from napari_nora import roi
from napari_nora.widgets.roi_layers import is_roi, mask_of, reference_of, volume_of

PENS = ("brush", "threshold higher", "threshold lower", "threshold higher RGrow",
        "threshold lower RGrow", "magic", "magic connected", "region growing", "polygon")
THRESHOLD_SOURCES = ("window low", "window high", "value")
#: Region growing: one voxel of horizontal drag changes the tolerance by this window fraction.
GROW_DRAG_PER_VOXEL = 0.01
PREVIEW_NAME = "ROI pen preview"


@evented
@dataclass
class PenSettings:
    pen: str = "brush"
    radius_mm: float = 3.0
    pen_3d: bool = False
    threshold_source: str = "window low"
    threshold: float = 0.0
    tolerance: float = 0.1  # magic pen: fraction of the window width; growing: start value
    drawing: bool = True
    preview: bool = True  # show what the pen would draw under the cursor


class RoiDrawing:
    """Pens, undo and keys for the ROI layers of one viewer.

    Parameters
    ----------
    viewer : napari.Viewer or ViewerModel
    settings : PenSettings
    """

    changed = Signal(object)  # the ROI layer that was edited

    def __init__(self, viewer, settings: PenSettings | None = None):
        self.viewer = viewer
        self.settings = settings or PenSettings()
        self._histories: dict[int, roi.History] = {}
        self.settings.events.drawing.connect(self._on_drawing_changed)

    # -- layers ------------------------------------------------------------------------------
    def attach(self, layer) -> None:
        """Install the pens on an ROI layer (idempotent)."""
        if not is_roi(layer) or id(layer) in self._histories:
            return
        self._histories[id(layer)] = roi.History(mask_of(layer))
        layer.mouse_drag_callbacks.append(self.drag)
        layer.mouse_move_callbacks.append(self.hover)
        layer.mouse_pan = not self.settings.drawing
        if hasattr(layer.events, "paint"):  # napari's own brush: keep statistics current
            layer.events.paint.connect(lambda _event, ly=layer: self.changed.emit(ly))
        layer.bind_key("Space", lambda ly: self.toggle_drawing(), overwrite=True)
        layer.bind_key("Control-Z", lambda ly: self.undo(ly), overwrite=True)
        layer.bind_key("Control-Shift-Z", lambda ly: self.redo(ly), overwrite=True)

    def detach(self, layer) -> None:
        self._histories.pop(id(layer), None)
        if self.drag in layer.mouse_drag_callbacks:
            layer.mouse_drag_callbacks.remove(self.drag)
        if self.hover in layer.mouse_move_callbacks:
            layer.mouse_move_callbacks.remove(self.hover)
        self.hide_preview()

    def history(self, layer) -> roi.History:
        self.attach(layer)
        return self._histories[id(layer)]

    def _on_drawing_changed(self, drawing):
        for layer in self.viewer.layers:
            if is_roi(layer):
                layer.mouse_pan = not drawing
        if not drawing:
            self.hide_preview()

    # -- live preview ----------------------------------------------------------------------------
    def _preview_layer(self, layer, create=True):
        if PREVIEW_NAME in self.viewer.layers:
            return self.viewer.layers[PREVIEW_NAME]
        if not create:
            return None
        active = self.viewer.layers.selection.active
        prev = self.viewer.add_labels(np.zeros((1,) * layer.ndim, np.uint8), name=PREVIEW_NAME,
                                      scale=layer.scale, units=layer.units, opacity=0.6,
                                      blending="additive", metadata={"nora_helper": True})
        self.viewer.layers.selection.active = active  # keep drawing on the ROI
        return prev

    def hide_preview(self) -> None:
        prev = self._preview_layer(None, create=False)
        if prev is not None and prev.visible:  # napari emits (and the views redraw) on any set
            prev.visible = False

    def show_preview(self, layer, center, dims=None) -> None:
        """Show, in a small overlay layer, the voxels the current pen would draw at ``center``
        in the plane of the 2D view whose ``dims`` are given (default: this viewer's)."""
        s = self.settings
        if not (s.preview and s.drawing) or s.pen in ("polygon", "region growing"):
            self.hide_preview()
            return
        self._show_patch(layer, self.pen_patch(layer, center, axis=self._plane_axis(layer, dims)))

    def _show_patch(self, layer, patch) -> None:
        if patch.mask.size == 0 or not patch.mask.any():
            self.hide_preview()
            return
        prev = self._preview_layer(layer)
        start = np.array([sl.start for sl in patch.slices], float)
        prev.data = patch.mask.astype(np.uint8)
        prev.scale = layer.scale
        prev.translate = np.asarray(layer.translate) + start * np.asarray(layer.scale)
        prev.visible = True

    def hover(self, layer, event, dims=None) -> None:
        """Mouse moved over ``layer`` in the 2D view whose ``dims`` are given (default: this
        viewer's): preview the pen there (another canvas showing the ROI calls this too)."""
        dims = self.viewer.dims if dims is None else dims
        if dims.ndisplay != 2 or "Shift" in event.modifiers:
            self.hide_preview()
            return
        center = self._index(layer, event)
        if np.any(np.round(center) < 0) or np.any(np.round(center) >= layer.data.shape):
            self.hide_preview()
            return
        self.show_preview(layer, center, dims)

    def toggle_drawing(self) -> None:
        self.settings.drawing = not self.settings.drawing

    # -- undo --------------------------------------------------------------------------------
    def undo(self, layer) -> bool:
        done = self.history(layer).undo() is not None
        self._edited(layer)
        return done

    def redo(self, layer) -> bool:
        done = self.history(layer).redo() is not None
        self._edited(layer)
        return done

    def apply(self, layer, new_mask) -> bool:
        """Replace an ROI's mask (after an operation) as one undo step."""
        done = self.history(layer).replace(new_mask)
        self._edited(layer)
        return done

    def _edited(self, layer):
        layer.refresh()
        self.changed.emit(layer)

    # -- geometry of a mouse event -------------------------------------------------------------
    def _plane_axis(self, layer, dims=None):
        """Layer axis normal to the 2D view (``dims``: this viewer's), or None for a 3D pen."""
        if self.settings.pen_3d:
            return None
        dims = self.viewer.dims if dims is None else dims
        offset = dims.ndim - layer.ndim
        axes = [a - offset for a in dims.not_displayed if a - offset >= 0]
        return axes[-1] if axes else None

    @staticmethod
    def _index(layer, event):
        return np.asarray(layer.world_to_data(event.position), float)[-layer.ndim:]

    # -- pens ----------------------------------------------------------------------------------
    def pen_patch(self, layer, center, *, axis=None, tolerance=None):
        """The patch the current pen selects at ``center`` (voxel index of the ROI)."""
        s = self.settings
        kw = dict(radius=s.radius_mm, spacing=tuple(abs(x) for x in layer.scale[-3:]), axis=axis)
        mask = mask_of(layer)
        if s.pen == "brush":
            return roi.brush(mask, center, **kw)
        image = reference_of(self.viewer, layer)
        if image is None:  # no image on this grid: only the plain brush makes sense
            return roi.brush(mask, center, **kw)
        vol = volume_of(self.viewer, image)
        lo, hi = image.contrast_limits
        if s.pen.startswith("threshold"):
            thr = {"window low": lo, "window high": hi}.get(s.threshold_source, s.threshold)
            return roi.threshold_pen(vol, center, threshold=thr, mode=s.pen.split()[1],
                                     connected=s.pen.endswith("RGrow"), **kw)
        if s.pen.startswith("magic"):
            return roi.magic_pen(vol, center, window=(lo, hi), tolerance=s.tolerance,
                                 connected=s.pen.endswith("connected"), **kw)
        if s.pen == "region growing":
            tol = s.tolerance * (hi - lo) if tolerance is None else tolerance
            return roi.region_grow_patch(vol, center, tolerance=max(tol, 0.0))
        raise ValueError(f"unknown pen {s.pen!r}")

    def drag(self, layer, event, dims=None):
        """Draw (left) or erase (right) on ``layer`` during a mouse drag, in the plane of the
        2D view whose ``dims`` are given (default: this viewer's); one undo step per stroke."""
        s = self.settings
        dims = self.viewer.dims if dims is None else dims
        if (not s.drawing or dims.ndisplay != 2
                or "Shift" in event.modifiers or event.button not in (1, 2)):
            return
        value = event.button == 1
        self.hide_preview()
        history = self.history(layer)
        axis = self._plane_axis(layer, dims)
        start = self._index(layer, event)
        if np.any(np.round(start) < 0) or np.any(np.round(start) >= layer.data.shape):
            return
        if s.pen == "region growing":
            yield from self._grow(layer, event, history, start, value, dims)
            return
        if s.pen == "polygon":
            yield from self._lasso(layer, event, history, start, value, dims)
            return
        history.begin_stroke()
        history.paint(self.pen_patch(layer, start, axis=axis), value=value)
        layer.refresh()
        yield
        last = start
        step = max(s.radius_mm / max(min(abs(x) for x in layer.scale[-3:]), 1e-6) / 2, 1.0)
        while event.type == "mouse_move":
            here = self._index(layer, event)
            for p in roi.interpolate_path(last, here, step=step):
                history.paint(self.pen_patch(layer, p, axis=axis), value=value)
            last = here
            layer.refresh()
            yield
        history.end_stroke()
        self._edited(layer)

    def _grow(self, layer, event, history, seed, value, dims):
        """Region growing: drag left/right to lower/raise the tolerance, live in the ROI."""
        image = reference_of(self.viewer, layer)
        lo, hi = image.contrast_limits if image is not None else (0.0, 1.0)
        tol0 = self.settings.tolerance * (hi - lo)
        horizontal = dims.displayed[-1] - (dims.ndim - layer.ndim)
        history.begin_stroke()
        history.paint(self.pen_patch(layer, seed, tolerance=tol0), value=value)
        layer.refresh()
        yield
        while event.type == "mouse_move":
            dx = self._index(layer, event)[horizontal] - seed[horizontal]
            tol = max(tol0 + dx * GROW_DRAG_PER_VOXEL * (hi - lo), 0.0)
            history.cancel_stroke()
            history.begin_stroke()
            history.paint(self.pen_patch(layer, seed, tolerance=tol), value=value)
            layer.refresh()
            yield
        history.end_stroke()
        self._edited(layer)

    # -- polygon -------------------------------------------------------------------------------
    def _lasso(self, layer, event, history, start, value, dims):
        """The polygon pen: trace an outline in the view's plane; on release its inside is
        drawn (left) or erased (right) in that slice, one undo step. While tracing, the
        preview shows the area the outline closes."""
        offset = dims.ndim - layer.ndim
        axis = [a - offset for a in dims.not_displayed if a - offset >= 0][-1]
        index = int(round(start[axis]))
        outline = [start]
        yield
        while event.type == "mouse_move":
            outline.append(self._index(layer, event))
            if len(outline) >= 3:
                self._show_patch(layer, roi.polygon_patch(np.array(outline), layer.data.shape,
                                                          axis=axis, index=index))
            yield
        self.hide_preview()
        if len(outline) < 3:  # a click: no outline
            return
        history.begin_stroke()
        history.paint(roi.polygon_patch(np.array(outline), layer.data.shape, axis=axis,
                                        index=index), value=value)
        history.end_stroke()
        self._edited(layer)

    def fill_polygons(self, layer, shapes_layer) -> int:
        """Fill every polygon of a Shapes layer into the ROI, each in its own slice plane; one
        undo step. Returns the number of polygons filled."""
        history = self.history(layer)
        history.begin_stroke()
        n = 0
        for verts, kind in zip(shapes_layer.data, shapes_layer.shape_type):
            if kind not in ("polygon", "path", "rectangle", "ellipse") or len(verts) < 3:
                continue
            world = np.array([shapes_layer.data_to_world(v) for v in verts])
            idx = np.array([layer.world_to_data(w) for w in world])[:, -layer.ndim:]
            idx = np.round(idx, 4)  # napari's float32 transforms: 2.0000005 is pixel 2's centre
            flat = [a for a in range(layer.ndim) if np.ptp(idx[:, a]) < 1e-3]
            if not flat:
                continue
            axis = flat[0] if len(flat) == 1 else self._plane_axis(layer)
            index = int(round(idx[0, axis]))
            if not 0 <= index < layer.data.shape[axis]:
                continue
            history.paint(roi.polygon_patch(idx, layer.data.shape, axis=axis, index=index))
            n += 1
        history.end_stroke()
        self._edited(layer)
        return n
