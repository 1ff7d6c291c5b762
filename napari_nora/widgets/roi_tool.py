"""NORA's ROI tool as a napari dock widget: ROI list, pens, operations, statistics.

The widget is thin: controls write :class:`~napari_nora.widgets.roi_drawing.PenSettings`;
list buttons call one function of ``napari_nora.roi`` or ``roi_layers`` each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                            QGroupBox, QHBoxLayout, QListWidget, QListWidgetItem,
                            QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget)

from napari_nora import roi
from napari_nora.widgets.qt_helpers import column_of, dock_of, scrolled, share_column
from napari_nora.widgets.roi_drawing import PENS, THRESHOLD_SOURCES, PenSettings, RoiDrawing
from napari_nora.widgets.roi_layers import (adopt_roi, centre_of_gravity, describe, image_layers,
                                            index_to_world, is_roi, mask_of, new_roi, roi_layers,
                                            save_roi)
from napari_nora.widgets.workspace_links import roi_tool_opened, unwrap

if TYPE_CHECKING:
    import napari

OPERATIONS = ("erode", "dilate", "open", "close", "remove salt", "union with",
              "intersect with", "subtract")


class RoiTool(QWidget):
    """Dock widget: ``RoiTool(viewer)``."""

    def __init__(self, viewer: napari.viewer.Viewer, parent=None):
        super().__init__(parent)
        # the plugin menu hands a PublicOnlyProxy, which wraps every layer in a new proxy on
        # each access: pens keyed by layer identity would attach again and again
        viewer = unwrap(viewer)
        self._viewer = viewer
        self.settings = PenSettings()
        self.drawing = RoiDrawing(viewer, self.settings)
        self.stats_window = None
        self.archive_worker = self.last_archive_save = self.last_archive_error = None
        self.archive_saves = 0  # finished archive saves (saved or failed), for scripts and tests
        self._content = content = QWidget()  # scrolls: taller than a laptop's column of docks
        self._sized = False
        layout = QVBoxLayout(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_create())
        layout.addWidget(self._build_list())
        layout.addWidget(self._build_pens())
        layout.addWidget(self._build_operations())
        stats = QPushButton("ROI statistics...")
        stats.clicked.connect(self.show_stats)
        layout.addWidget(stats)
        layout.addStretch(1)
        outer.addWidget(scrolled(content, keep_width=True))  # once the form is built
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)
        viewer.layers.selection.events.active.connect(self._on_active_changed)
        self.drawing.changed.connect(self._on_roi_edited)
        self.settings.events.drawing.connect(self._on_drawing_changed)
        self.settings.events.connect(self._on_settings_changed)
        self._on_layers_changed()
        roi_tool_opened(viewer, self)  # the workspace's space and Ctrl-Z reach this tool

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:  # docked: a tab beside the workspace, 60% of the column
            self._sized = True
            QTimer.singleShot(0, self._take_room)

    def _take_room(self) -> None:
        """Docked under other docks (the desktop, then the workspace and display settings), the
        form had a sliver of the column, or squeezed the desktop to a row: it becomes a tab of
        the dock above it (the workspace, one click away) and takes 60% of the column; the
        desktop keeps the rest, a few rows of its table."""
        dock = dock_of(self)
        window = dock.parentWidget() if dock is not None else None
        if window is None or dock.isFloating() or not hasattr(window, "tabifyDockWidget"):
            return
        others = column_of(window, dock)
        if others:
            window.tabifyDockWidget(max(others, key=lambda d: d.geometry().top()), dock)
            dock.show()
            dock.raise_()
            QTimer.singleShot(0, lambda: share_column(window, dock, 0.6))  # once tabbed

    # -- building ------------------------------------------------------------------------------
    def _build_create(self):
        box = QGroupBox("New ROI")
        row = QHBoxLayout(box)
        self.reference = QComboBox()
        row.addWidget(self.reference, 1)
        empty = QPushButton("Empty")
        empty.clicked.connect(lambda: self.new_roi(thresholded=False))
        thr = QPushButton("Thresholded")
        thr.setToolTip("ON where the image is at or above the lower window limit")
        thr.clicked.connect(lambda: self.new_roi(thresholded=True))
        adopt = QPushButton("From labels")
        adopt.setToolTip("Use the selected Labels layer (e.g. a reopened ROI) as an ROI")
        adopt.clicked.connect(lambda: self.adopt_selected())
        row.addWidget(empty)
        row.addWidget(thr)
        row.addWidget(adopt)
        return box

    def _build_list(self):
        box = QGroupBox("ROIs")
        col = QVBoxLayout(box)
        self.roi_list = QListWidget()
        self.roi_list.currentRowChanged.connect(self._on_row_changed)
        col.addWidget(self.roi_list)
        rows = ([("Show/hide", self.toggle_visible), ("Focus", self.focus),
                 ("Clear", self.clear), ("Delete", self.delete), ("Undo", self.undo),
                 ("Redo", self.redo)],
                [("Save to archive", lambda: self.save_to_archive()),
                 ("Save...", lambda: self.save()), ("Export...", lambda: self.export())])
        for row in rows:
            buttons = QHBoxLayout()
            for text, slot in row:
                b = QPushButton(text)
                b.clicked.connect(slot)
                buttons.addWidget(b)
                if text == "Save to archive":
                    self.archive_button = b
                    b.setToolTip("Save into the archive study the reference image came from "
                                 "(rois/<name>.nii.gz)")
            col.addLayout(buttons)
        return box

    def _build_pens(self):
        box = QGroupBox("Pen")
        form = QFormLayout(box)
        s = self.settings
        self.pen = QComboBox()
        self.pen.addItems(PENS)
        self.pen.currentTextChanged.connect(lambda v: setattr(s, "pen", v))
        self.pen.setToolTip("left draws, right erases; region growing: drag to change the "
                            "tolerance; polygon: press, trace an outline, release")
        form.addRow("Type", self.pen)
        self.radius = QDoubleSpinBox(minimum=0.0, maximum=200.0, value=s.radius_mm, suffix=" mm")
        self.radius.valueChanged.connect(lambda v: setattr(s, "radius_mm", v))
        form.addRow("Radius", self.radius)
        self.pen_3d = QCheckBox("3D (ball)")
        self.pen_3d.toggled.connect(lambda v: setattr(s, "pen_3d", v))
        form.addRow("", self.pen_3d)
        self.threshold_source = QComboBox()
        self.threshold_source.addItems(THRESHOLD_SOURCES)
        self.threshold_source.currentTextChanged.connect(
            lambda v: setattr(s, "threshold_source", v))
        self.threshold = QDoubleSpinBox(minimum=-1e6, maximum=1e6, decimals=2)
        self.threshold.valueChanged.connect(lambda v: setattr(s, "threshold", v))
        thr_row = QHBoxLayout()
        thr_row.addWidget(self.threshold_source)
        thr_row.addWidget(self.threshold)
        form.addRow("Threshold", thr_row)
        self.tolerance = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.01,
                                        value=s.tolerance)
        self.tolerance.setToolTip("Magic pen and region growing: fraction of the window width")
        self.tolerance.valueChanged.connect(lambda v: setattr(s, "tolerance", v))
        form.addRow("Similarity", self.tolerance)
        self.preview = QCheckBox("Live preview")
        self.preview.setChecked(s.preview)
        self.preview.toggled.connect(lambda v: setattr(s, "preview", v))
        form.addRow("", self.preview)
        self.drawing_box = QCheckBox("Drawing (Space)")
        self.drawing_box.setChecked(s.drawing)
        self.drawing_box.toggled.connect(lambda v: setattr(s, "drawing", v))
        form.addRow("", self.drawing_box)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
        self.opacity.valueChanged.connect(self._on_opacity)
        form.addRow("Opacity", self.opacity)
        self.outline = QCheckBox("Outline only")
        self.outline.toggled.connect(self._on_outline)
        form.addRow("", self.outline)
        self.fill_polygon = QPushButton("Fill polygons into ROI")
        self.fill_polygon.clicked.connect(self.fill_polygons)
        form.addRow("Polygon", self.fill_polygon)
        return box

    def _build_operations(self):
        box = QGroupBox("Operations")
        row = QHBoxLayout(box)
        self.operation = QComboBox()
        self.operation.addItems(OPERATIONS)
        self.operand = QComboBox()
        self.salt = QSpinBox(minimum=1, maximum=10**9, value=10)
        self.salt.setToolTip("Remove salt: components smaller than this many voxels")
        apply = QPushButton("Apply")
        apply.clicked.connect(lambda: self.apply_operation())
        for w in (self.operation, self.operand, self.salt, apply):
            row.addWidget(w)
        return box

    # -- state sync ----------------------------------------------------------------------------
    def current_roi(self):
        row = self.roi_list.currentRow()
        rois = roi_layers(self._viewer)
        return rois[row] if 0 <= row < len(rois) else None

    def _on_layers_changed(self, *_):
        rois = roi_layers(self._viewer)
        for layer in rois:
            self.drawing.attach(layer)
        current = self.current_roi()
        self.roi_list.blockSignals(True)
        self.roi_list.clear()
        for layer in rois:
            self.roi_list.addItem(QListWidgetItem(describe(layer)))
        if rois:
            self.roi_list.setCurrentRow(rois.index(current) if current in rois else len(rois) - 1)
        self.roi_list.blockSignals(False)
        self._sync_archive_button()
        for combo, names in ((self.reference, [im.name for im in image_layers(self._viewer)]),
                             (self.operand, [ly.name for ly in rois])):
            keep = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if keep in names:
                combo.setCurrentText(keep)
            combo.blockSignals(False)

    def _on_active_changed(self, event):
        layer = event.value
        if is_roi(layer):
            rois = roi_layers(self._viewer)
            self.roi_list.blockSignals(True)
            self.roi_list.setCurrentRow(rois.index(layer))
            self.roi_list.blockSignals(False)
            self._sync_archive_button()

    def _sync_archive_button(self):
        from napari_nora.widgets.roi_archive import origin_of

        layer = self.current_roi()
        self.archive_button.setEnabled(
            layer is not None and origin_of(self._viewer, layer) is not None)

    def _on_row_changed(self, row):
        self._sync_archive_button()
        layer = self.current_roi()
        if layer is not None:  # the current ROI is the one drawn on: make it the active layer
            self._viewer.layers.selection.active = layer

    def _on_roi_edited(self, layer):
        rois = roi_layers(self._viewer)
        if layer in rois:
            self.roi_list.item(rois.index(layer)).setText(describe(layer))
        if self.stats_window is not None:
            self.stats_window.schedule_refresh()

    def _on_drawing_changed(self, drawing):
        self.drawing_box.blockSignals(True)
        self.drawing_box.setChecked(drawing)
        self.drawing_box.blockSignals(False)

    def _on_settings_changed(self, event):
        """Show pen settings changed from a script or a key in the controls (``event`` is
        psygnal's EmissionInfo of the settings group)."""
        control = {"pen": self.pen, "radius_mm": self.radius, "pen_3d": self.pen_3d,
                   "threshold_source": self.threshold_source, "threshold": self.threshold,
                   "tolerance": self.tolerance, "preview": self.preview}.get(event.signal.name)
        if control is None:
            return
        value = event.args[0]
        control.blockSignals(True)
        if isinstance(control, QComboBox):
            control.setCurrentText(value)
        elif isinstance(control, QCheckBox):
            control.setChecked(bool(value))
        else:
            control.setValue(value)
        control.blockSignals(False)

    def _on_opacity(self, value):
        for layer in roi_layers(self._viewer):
            layer.opacity = value / 100.0

    def _on_outline(self, outline):
        for layer in roi_layers(self._viewer):
            layer.contour = 1 if outline else 0

    # -- actions -------------------------------------------------------------------------------
    def new_roi(self, *, thresholded=False):
        images = {im.name: im for im in image_layers(self._viewer)}
        image = images.get(self.reference.currentText())
        if image is None:
            self._status("open an image first: an ROI takes its grid from a reference image")
            return None
        layer = new_roi(self._viewer, image, thresholded=thresholded)
        layer.opacity = self.opacity.value() / 100.0
        layer.contour = 1 if self.outline.isChecked() else 0
        self._viewer.layers.selection.active = layer
        return layer

    def adopt_selected(self):
        layer = self._viewer.layers.selection.active
        if layer is None or is_roi(layer):
            return None
        try:
            adopt_roi(self._viewer, layer)
        except ValueError as err:
            self._status(str(err))
            return None
        self._on_layers_changed()
        return layer

    def toggle_visible(self):
        layer = self.current_roi()
        if layer is not None:
            layer.visible = not layer.visible

    def focus(self):
        layer = self.current_roi()
        if layer is None:
            return
        world = centre_of_gravity(layer)
        if world is None:
            self._status(f"{layer.name} is empty")
            return
        offset = self._viewer.dims.ndim - 3
        for ax in range(3):
            self._viewer.dims.set_point(ax + offset, float(world[ax]))
        scene = getattr(self._viewer, "scene", None)  # napari 0.9 moved the camera there
        camera = scene.camera if scene is not None else self._viewer.camera
        camera.center = tuple(float(world[a - offset]) for a in self._viewer.dims.displayed
                              if a >= offset)

    def save(self, path=None):
        layer = self.current_roi()
        if layer is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save ROI as NIfTI",
                                                  f"{layer.name}.nii.gz", "NIfTI (*.nii.gz *.nii)")
            if not path:
                return None
        return save_roi(layer, path)

    def export(self, path=None):
        """Export the current ROI on its reference's source grid: NIfTI, NRRD, or a 3D Slicer
        segmentation (``.seg.nrrd``, the ROI's name as the segment name)."""
        from napari_nora.writers import write_labels_nrrd

        layer = self.current_roi()
        if layer is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export ROI", f"{layer.name}.seg.nrrd",
                "3D Slicer segmentation (*.seg.nrrd);;NRRD (*.nrrd);;NIfTI (*.nii.gz *.nii)")
            if not path:
                return None
        low = str(path).lower()
        if not low.endswith(".nrrd"):
            return save_roi(layer, path)
        attributes = {"metadata": layer.metadata, "scale": layer.scale,
                      "translate": layer.translate, "name": layer.name}
        segment = layer.name if low.endswith(".seg.nrrd") else None
        return write_labels_nrrd(str(path), layer.data, attributes, segment=segment)

    def save_to_archive(self, overwrite: bool | None = None):
        """Save the current ROI into the archive study of its reference image, in a thread
        worker; returns the worker (None when there is nothing to do). An existing file is
        replaced only after the user says so (``overwrite=None`` asks)."""
        from napari.qt.threading import create_worker

        from napari_nora.widgets import roi_archive

        layer = self.current_roi()
        if layer is None:
            return None
        origin = roi_archive.origin_of(self._viewer, layer)
        if origin is None:
            self._status(f"{layer.name}: its reference image was not opened from the archive; "
                         "use Save... for a local file")
            return None
        path = roi_archive.archive_path(layer.name)
        worker = create_worker(roi_archive.try_save, np.array(layer.data),
                               roi_archive.save_attributes(layer), origin, path,
                               overwrite=bool(overwrite), _start_thread=False,
                               _connect={"errored": lambda exc: failed(exc)})
        where = f"{origin['project']}: {origin['ref']}/{path}"

        def done(outcome):
            self.archive_saves += 1
            what, result = outcome
            if what == "refused":
                return failed(result, counted=True)
            self.last_archive_save, self.last_archive_error = result, None
            self._status(f"{layer.name} saved to the archive as {where}")

        def failed(exc, counted=False):
            self.archive_saves += 0 if counted else 1
            if isinstance(exc, roi_archive.RoiExists) and overwrite is None:
                if self._confirm(f"{exc.where} exists already. Replace it?"):
                    self.save_to_archive(overwrite=True)
                    return
                self._status(f"{layer.name} not saved: {exc.where} exists already")
                return
            self.last_archive_error = exc
            self._status(f"{layer.name} not saved to the archive: {exc}", error=True)

        worker.returned.connect(done)
        self._status(f"saving {layer.name} to the archive as {where}...")
        self.archive_worker = worker
        worker.start()
        return worker

    def _confirm(self, question: str) -> bool:
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(self, "Save ROI to archive", question)
        return answer == QMessageBox.StandardButton.Yes

    def clear(self):
        layer = self.current_roi()
        if layer is not None:
            self.drawing.apply(layer, np.zeros(layer.data.shape, bool))

    def delete(self):
        layer = self.current_roi()
        if layer is not None:
            self.drawing.detach(layer)
            self._viewer.layers.remove(layer)

    def undo(self):
        layer = self.current_roi()
        return layer is not None and self.drawing.undo(layer)

    def redo(self):
        layer = self.current_roi()
        return layer is not None and self.drawing.redo(layer)

    def apply_operation(self, operation=None):
        layer = self.current_roi()
        if layer is None:
            return False
        op = operation or self.operation.currentText()
        mask = mask_of(layer)
        unary = {"erode": roi.erosion, "dilate": roi.dilation, "open": roi.opening,
                 "close": roi.closing}
        if op in unary:
            new = unary[op](mask)
        elif op == "remove salt":
            new = roi.remove_salt(mask, min_size=self.salt.value())
        else:
            others = {ly.name: ly for ly in roi_layers(self._viewer)}
            other = others.get(self.operand.currentText())
            if other is None:
                return False
            b = mask_of(other)
            if b.shape != mask.shape:
                b = roi.resample_mask(b, index_to_world(other), shape=mask.shape,
                                      like_affine=index_to_world(layer))
            new = {"union with": roi.union, "intersect with": roi.intersection,
                   "subtract": roi.difference}[op](mask, b)
        return self.drawing.apply(layer, new)

    def fill_polygons(self):
        from napari.layers import Shapes

        layer = self.current_roi()
        shapes = [ly for ly in self._viewer.layers if isinstance(ly, Shapes)]
        if layer is None or not shapes:
            self._status("draw a polygon in a Shapes layer first")
            return 0
        return self.drawing.fill_polygons(layer, shapes[-1])

    def show_stats(self):
        from napari_nora.widgets.roi_stats import RoiStatsWindow

        if self.stats_window is None:
            self.stats_window = RoiStatsWindow(self._viewer)
        self.stats_window.refresh()
        self.stats_window.show()
        return self.stats_window

    def _status(self, text, *, error=False):
        self._viewer.status = text
        if error:
            from napari.utils.notifications import show_error

            show_error(text)
