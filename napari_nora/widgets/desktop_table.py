"""The subject/study table as a Qt model/view: smooth with 100k rows.

The model holds a :class:`nora_server.desktop.table.StudyTable` (columns of text) and a view
index (numpy): the rows the filter bars let through, in the chosen sort order. Qt asks only for
the rows on screen, so the table scrolls as smoothly with 100k studies as with ten; filtering
and sorting replace the view index, never the rows.

:class:`FilterHeader` puts a filter bar under every column title that has one.
"""

from __future__ import annotations

import json

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QMimeData, QModelIndex, Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QHeaderView, QLineEdit

from nora_server.desktop.table import BARS, COLUMNS, IDENTITY_COLUMNS, JOB_LETTERS

TITLES = {"subject": "Subject", "patient_id": "Patient ID", "name": "Name", "birth": "Birth",
          "sex": "Sex", "study": "Study", "date": "Date", "desc": "Description",
          "modality": "Mod.", "tags": "Tags", "job": "Job"}
HINTS = {"subject": "pseudonym or patient ID", "tags": "tag, PTAG:tag", "job": "q r e",
         "date": "2024-0", "birth": "1970", "name": "Doe^J"}
JOB_COLOURS = {"q": QColor("#d9b600"), "r": QColor("#2f7fd8"), "e": QColor("#d83a2f")}
#: drag and drop formats of the desktop
STUDY_MIME = "application/x-nora-studies"
FILE_MIME = "application/x-nora-files"


class StudyTableModel(QAbstractTableModel):
    """Rows of a :class:`~nora_server.desktop.table.StudyTable`, filtered and sorted."""

    view_changed = Signal()  # the visible rows or their order changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = None
        self.project: str | None = None
        self._mask: np.ndarray | None = None  # rows the filter lets through (None: all)
        self._order = np.zeros(0, np.int64)  # all rows in sort order
        self._view = np.zeros(0, np.int64)  # visible rows in sort order
        self._sort: tuple[int, bool] | None = None  # (column, descending)
        self._sort_keys: dict[str, np.ndarray] = {}
        self._rows_by_ref: dict[str, int] | None = None  # "pid#sid" (lower case) -> row
        self._positions: np.ndarray | None = None  # row -> position in the view (-1: hidden)

    # -- contents --------------------------------------------------------------------------
    def set_table(self, table) -> None:
        self.beginResetModel()
        self.table, self.project = table, getattr(table, "project", None)
        self._mask, self._sort_keys, self._rows_by_ref = None, {}, None
        self._order = np.arange(len(table) if table is not None else 0)
        if self._sort is not None:
            self._order = self._sorted_rows(*self._sort)
        self._view = self._order
        self._positions = None
        self.endResetModel()
        self.view_changed.emit()

    def set_mask(self, mask) -> None:
        """Show only the rows where ``mask`` (bool per row) is true (None: every row)."""
        if self.table is None or (mask is not None and len(mask) != len(self.table)):
            return  # a mask of an older table
        self.beginResetModel()
        self._mask = mask
        self._view = self._order if self._mask is None else self._order[self._mask[self._order]]
        self._positions = None
        self.endResetModel()
        self.view_changed.emit()

    def refresh_rows(self, rows) -> None:
        """Rows whose tags or job state changed: drop cached sort keys, repaint."""
        self._sort_keys.pop("tags", None)
        self._sort_keys.pop("job", None)
        if len(self._view):
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._view) - 1, len(COLUMNS) - 1))

    # -- lookups ---------------------------------------------------------------------------
    def row_of_view(self, position: int) -> int:
        return int(self._view[position])

    def ref_at(self, position: int) -> str:
        return self.table.ref(int(self._view[position]))

    def refs(self, positions) -> list[str]:
        return [self.table.ref(int(self._view[p])) for p in positions]

    def visible_refs(self) -> list[str]:
        return [self.table.ref(int(r)) for r in self._view]

    def position_of(self, ref: str) -> int | None:
        """Where study ``ref`` (``PID#SID``) is in the visible rows, or None."""
        if self.table is None:
            return None
        if self._rows_by_ref is None:
            t = self.table
            self._rows_by_ref = {f"{p}#{s}".lower(): r for r, (p, s) in
                                 enumerate(zip(t.columns["subject"], t.columns["study"]))}
        row = self._rows_by_ref.get(ref.lower())
        if row is None:
            return None
        if self._positions is None:
            self._positions = np.full(len(self.table), -1, np.int64)
            self._positions[self._view] = np.arange(len(self._view))
        pos = int(self._positions[row])
        return pos if pos >= 0 else None

    def neighbour(self, ref: str | None, step: int) -> str | None:
        """The visible study ``step`` rows after ``ref`` (before, when negative), or None."""
        if not len(self._view):
            return None
        pos = self.position_of(ref) if ref else None
        target = (0 if step > 0 else len(self._view) - 1) if pos is None else pos + step
        return self.ref_at(target) if 0 <= target < len(self._view) else None

    # -- Qt model --------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self._view)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return TITLES[COLUMNS[section]]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _column_tip(COLUMNS[section])
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.table is None:
            return None
        row, key = int(self._view[index.row()]), COLUMNS[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if key == "tags":
                return self.table.tags_text(row)
            if key == "job":
                letter = self.table.job(row)
                return JOB_LETTERS.get(letter, "") if role == Qt.ItemDataRole.ToolTipRole \
                    else letter
            return self.table.columns[key][row]
        if role == Qt.ItemDataRole.BackgroundRole and key == "job":
            return JOB_COLOURS.get(self.table.job(row))
        return None

    def flags(self, index):
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self):
        return [STUDY_MIME]

    def mimeData(self, indexes):
        positions = sorted({i.row() for i in indexes})
        mime = QMimeData()
        mime.setData(STUDY_MIME, json.dumps({"project": self.project,
                                             "refs": self.refs(positions)}).encode())
        return mime

    def sort(self, column, order=Qt.SortOrder.AscendingOrder):
        if self.table is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        self.beginResetModel()
        self._sort = (column, descending)
        self._order = self._sorted_rows(column, descending)
        self._view = self._order if self._mask is None else self._order[self._mask[self._order]]
        self._positions = None
        self.endResetModel()
        self.view_changed.emit()

    def _sorted_rows(self, column: int, descending: bool) -> np.ndarray:
        key = COLUMNS[column]
        if key not in self._sort_keys:
            n = len(self.table)
            if key == "tags":
                values = [self.table.tags_text(r).lower() for r in range(n)]
            elif key == "job":
                values = [self.table.job(r) for r in range(n)]
            else:
                values = [v.lower() for v in self.table.columns[key]]
            # stable, so rows keep the archive's (subject, study) order among equal values
            self._sort_keys[key] = np.argsort(np.array(values, dtype=str), kind="stable")
        order = self._sort_keys[key]
        return order[::-1].copy() if descending else order


def _column_tip(key: str) -> str:
    if key == "patient_id":
        return "Real patient ID (members and owners); filter it in the Subject bar"
    if key in IDENTITY_COLUMNS:
        return "Shown to members and owners only"
    if key == "job":
        return "Latest batch job: q queued, r running, e error (filter: q r e)"
    if key == "tags":
        return "Study tags, then subject tags; a plain term filters study tags (STAG)"
    return ""


class FilterHeader(QHeaderView):
    """Horizontal header with a filter bar under each column title (NORA's filter bars)."""

    filter_edited = Signal(str, str)  # column key, text

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionsClickable(True)
        self.setSortIndicatorShown(True)
        self.setHighlightSections(False)
        self.setSectionsMovable(False)
        self.editors: dict[str, QLineEdit] = {}
        for col, key in enumerate(COLUMNS):
            if BARS[key] is None:
                continue
            edit = QLineEdit(self)
            edit.setPlaceholderText(HINTS.get(key, "filter"))
            edit.setClearButtonEnabled(True)
            edit.setProperty("tip", f"Filter {TITLES[key]}: space = OR, & = AND, * and _ wildcards, "
                            "STAG: PTAG: FTAG: SDESC: JOB:")
            edit.setToolTip(edit.property("tip"))
            edit.textChanged.connect(lambda text, k=key: self.filter_edited.emit(k, text))
            self.editors[key] = edit
        self.sectionResized.connect(self._place)
        self.sectionMoved.connect(self._place)

    def _editor_height(self) -> int:
        editors = getattr(self, "editors", None)  # Qt asks during __init__ already
        return next(iter(editors.values())).sizeHint().height() if editors else 0

    def sizeHint(self):
        size = super().sizeHint()
        size.setHeight(size.height() + self._editor_height() + 2)
        return size

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._place()

    def updateGeometries(self):
        self.setViewportMargins(0, 0, 0, self._editor_height() + 2)
        super().updateGeometries()
        self._place()

    def _place(self, *args) -> None:
        top = self.height() - self._editor_height() - 1  # in the bottom margin, under the titles
        for col, key in enumerate(COLUMNS):
            edit = getattr(self, "editors", {}).get(key)
            if edit is None:
                continue
            edit.setGeometry(self.sectionViewportPosition(col), top, self.sectionSize(col) - 1,
                             self._editor_height())
            edit.setVisible(not self.isSectionHidden(col))

    def set_error(self, key: str, message: str | None) -> None:
        edit = self.editors.get(key)
        if edit is not None:
            edit.setStyleSheet("QLineEdit { background: #5a1e1e; }" if message else "")
            edit.setToolTip(message or edit.property("tip"))
