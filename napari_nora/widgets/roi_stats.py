"""ROI statistics window: every open ROI x every open image, refreshed on change, CSV export."""

from __future__ import annotations

import math

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (QFileDialog, QHBoxLayout, QPushButton, QTableWidget,
                            QTableWidgetItem, QVBoxLayout, QWidget)

from napari_nora import roi
from napari_nora.widgets.roi_layers import (image_layers, index_to_world, mask_of, roi_layers,
                                            volume_of)

HEADERS = ("ROI", "image", "voxels", "volume mL", "area cm2", "mean", "std", "median", "p25",
           "p75", "outside")


def compute_rows(viewer) -> list[dict]:
    """The statistics table for the viewer's ROI layers x image layers (in world mm)."""
    rois = {layer.name: (mask_of(layer), index_to_world(layer)) for layer in roi_layers(viewer)}
    images = {layer.name: (volume_of(viewer, layer), index_to_world(layer))
              for layer in image_layers(viewer)}
    return roi.stats_table(rois, images)


class RoiStatsWindow(QWidget):
    """Table of :func:`napari_nora.roi.stats_table` rows; call :meth:`schedule_refresh` when an
    ROI or the layer list changes (refreshes are coalesced)."""

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self.setWindowTitle("ROI statistics")
        self._viewer = viewer
        self.rows: list[dict] = []
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        export = QPushButton("Export CSV...")
        export.clicked.connect(lambda: self.export_csv())
        buttons = QHBoxLayout()
        buttons.addWidget(refresh)
        buttons.addWidget(export)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.resize(900, 320)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        viewer.layers.events.inserted.connect(self.schedule_refresh)
        viewer.layers.events.removed.connect(self.schedule_refresh)
        self.refresh()

    def schedule_refresh(self, *_):
        self._timer.start()

    def refresh(self):
        self.rows = compute_rows(self._viewer)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, key in enumerate(roi.COLUMNS):
                v = row[key]
                text = v if isinstance(v, str) else (
                    "" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}")
                self.table.setItem(r, c, QTableWidgetItem(str(text)))
        self.table.resizeColumnsToContents()

    def export_csv(self, path=None):
        """Write the table as CSV (asks for a file when ``path`` is None)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export ROI statistics", "roi_stats.csv",
                                                  "CSV (*.csv)")
            if not path:
                return None
        roi.write_csv(self.rows, path)
        return path
