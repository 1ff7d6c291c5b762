"""NORA's Gridstats: the job table of the current project, with state colours, search, sorting,
the job's log and JSON, kill and re-run of failed jobs.

Finished jobs leave the table by default ("show finished" brings them back); failed and
cancelled ones stay for analysis. The table is refreshed by a timer while it is shown, or
while jobs it follows are queued or running (a monitor in a hidden tab with nothing to follow
asks nothing; it refreshes when shown), and on demand, in a thread worker that asks each
scheduler in use ONE question; a change of states emits ``context.jobs_changed`` (the subject
table's job markers follow it), and a launch elsewhere (``jobs_changed`` from the batch tool)
refreshes the monitor. Double-clicking a job's subject
selects it in the subject/study table.
"""

from __future__ import annotations

import json
import logging

from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer
from qtpy.QtGui import QColor, QIcon, QPainter, QPixmap
from qtpy.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel,
                            QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                            QTableView, QTabWidget, QVBoxLayout, QWidget)

from napari_nora.widgets import job_control as jc
from napari_nora.widgets.batch_compose import batch_settings
from napari_nora.widgets.desktop_context import watch
from napari_nora.widgets.desktop_tasks import Tasks

log = logging.getLogger(__name__)

HEADERS = {"id": "ID", "state": "State", "subject": "Subject", "study": "Study",
           "batch_name": "Batch", "scheduler": "Executor", "scheduler_id": "Scheduler ID",
           "submitted": "Submitted", "started": "Started", "finished": "Finished",
           "message": "Message"}
STATE_COLOURS = {"queued": "#7aa6d8", "running": "#f0c04a", "done": "#6cc070",
                 "error": "#e0605a", "cancelled": "#a0a0a0"}
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1


_DOTS: dict[str, QIcon] = {}


def _dot(state: str) -> QIcon:
    """A small disc of the state's colour."""
    if state not in _DOTS:
        pix = QPixmap(12, 12)
        pix.fill(QColor(0, 0, 0, 0))
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor(STATE_COLOURS.get(state, "#ffffff")))
        painter.setPen(QColor("#202020"))
        painter.drawEllipse(1, 1, 10, 10)
        painter.end()
        _DOTS[state] = QIcon(pix)
    return _DOTS[state]


class JobTableModel(QAbstractTableModel):
    """Rows of the job table (dicts of :func:`job_control.refresh`)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(jc.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[jc.COLUMNS[section]]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, key = self.rows[index.row()], jc.COLUMNS[index.column()]
        value = row.get(key)
        if role == Qt.ItemDataRole.DisplayRole:
            return "" if value is None else str(value)
        if role == SORT_ROLE:
            return value if isinstance(value, int) else ("" if value is None else str(value))
        if role == ID_ROLE:
            return row["id"]
        if role == Qt.ItemDataRole.DecorationRole and key == "state":
            return _dot(row["state"])  # stays visible in a selected row
        if role == Qt.ItemDataRole.BackgroundRole and key == "state":
            return QColor(STATE_COLOURS.get(row["state"], "#ffffff"))
        if role == Qt.ItemDataRole.ForegroundRole and key == "state":
            return QColor("#000000")
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("message") or f"{row['state']}: {row['batch_name']}"
        return None


class JobMonitorWidget(QWidget):
    """Gridstats on a :class:`~napari_nora.widgets.desktop_context.DesktopContext`."""

    def __init__(self, context, parent=None, *, interval_s: float | None = None):
        super().__init__(parent)
        self.context = context
        self.snapshot = jc.Snapshot()
        self._own_emit = False
        self._following = True  # jobs may be active: refresh once, even in a hidden tab
        self._sized = False
        self._shown: tuple | None = None  # (job id, state) whose log and JSON are shown
        self.model = JobTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSortRole(SORT_ROLE)
        self._build()
        seconds = interval_s if interval_s is not None else float(
            batch_settings(context).get("monitor_seconds", 5))
        self.timer = QTimer(self)
        self.timer.setInterval(max(int(seconds * 1000), 200))
        self.timer.timeout.connect(self._poll)
        self.timer.start()
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(100)
        self._soon.timeout.connect(self._poll)
        watch(self, context.project_changed, self._on_project_changed)
        watch(self, context.jobs_changed, self._on_jobs_changed)
        self._soon.start()  # once it is placed

    def _build(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("search jobs (any column)")
        self.search.textChanged.connect(self.proxy.setFilterFixedString)
        self.show_done = QCheckBox("show finished")
        self.show_done.toggled.connect(lambda *_: self.refresh(query=False))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self._on_refresh_clicked)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.show_done)
        top.addWidget(refresh)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double_click)

        self.kill_button = QPushButton("Kill")
        self.kill_button.setToolTip("cancel the selected queued or running jobs")
        self.kill_button.clicked.connect(lambda: self.kill_selected())
        self.rerun_button = QPushButton("Re-run failed")
        self.rerun_button.setToolTip("launch again the failed and cancelled jobs of the "
                                     "selected jobs' launches")
        self.rerun_button.clicked.connect(lambda: self.rerun_failed())
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(80)
        self.tasks = Tasks(self.progress, parent=self)
        self.status = QLabel("")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        actions = QHBoxLayout()
        actions.addWidget(self.kill_button)
        actions.addWidget(self.rerun_button)
        actions.addWidget(self.status, 1)
        actions.addWidget(self.progress)

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.json_view = QPlainTextEdit()
        self.json_view.setReadOnly(True)
        self.details = QTabWidget()
        self.details.addTab(self.log_view, "Log")
        self.details.addTab(self.json_view, "JSON")
        split = QSplitter(Qt.Orientation.Vertical)
        upper = QWidget()
        ub = QVBoxLayout(upper)
        ub.setContentsMargins(0, 0, 0, 0)
        ub.addWidget(self.table)
        ub.addLayout(actions)
        ub.addWidget(self.message)
        split.addWidget(upper)
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(split, 1)

    # -- refresh ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.tasks.busy

    def refresh(self, *, query: bool = True):
        """Refresh the table in a worker (one at a time; a request during one runs after)."""
        return self.tasks.run(jc.refresh, self.context, self.context.project,
                              include_done=self.show_done.isChecked(), query=query,
                              done=self._show, error=self._failed, channel="refresh", keep=True)

    def _poll(self) -> None:
        """Refresh while the monitor is shown (a window of its own always is) or while jobs
        are queued or running: the subject table's job markers follow them from any tab."""
        if self.isVisible() or self.isWindow() or self._following:
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._soon.start()  # one refresh, also when shown right after start-up

    def _show(self, snap: jc.Snapshot) -> None:
        selected = set(self.selected_ids())
        self.snapshot = snap
        self.model.set_rows(snap.rows)
        if snap.rows and not self._sized:  # fit the columns once, to the first jobs
            self.table.resizeColumnsToContents()
            stamp = self.table.fontMetrics().horizontalAdvance("2026-01-01 00:00:00  ")
            state = self.table.fontMetrics().horizontalAdvance("cancelled") + 40
            for key, width in (("state", state), ("submitted", stamp), ("started", stamp),
                               ("finished", stamp)):
                col = jc.COLUMNS.index(key)
                self.table.setColumnWidth(col, max(self.table.columnWidth(col), width))
            self._sized = True
        self._reselect(selected)
        c = jc.counts(snap.rows)
        self._following = bool(c.get("queued") or c.get("running"))
        text = ", ".join(f"{n} {s}" for s, n in c.items() if n) or "no jobs"
        if snap.errors:
            text += " - scheduler not answering: " + "; ".join(snap.errors)
        self.status.setText(text)
        if snap.changed:
            self._own_emit = True
            try:
                self.context.jobs_changed.emit(self.context.project or "")
            finally:
                self._own_emit = False

    def _failed(self, exc) -> None:
        self.message.setText(f"refresh failed: {exc}")

    def _on_refresh_clicked(self) -> None:
        self._shown = None  # the log of the selected job is read again too
        self.refresh()
        self._on_selection()

    def _on_project_changed(self, project) -> None:
        self._shown = None
        self.model.set_rows([])
        self._poll()

    def _on_jobs_changed(self, project: str) -> None:
        if not self._own_emit:  # a launch elsewhere: jobs to follow
            self._following = True
            self._soon.start()

    # -- selection, log and JSON ----------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return [int(self.proxy.data(i, ID_ROLE)) for i in rows]

    def selected_jobs(self) -> list[dict]:
        ids = set(self.selected_ids())
        return [r for r in self.model.rows if r["id"] in ids]

    def select_jobs(self, ids) -> None:
        """Select the rows of these job ids (those shown)."""
        self.table.clearSelection()
        self._reselect(set(ids))

    def _reselect(self, ids: set) -> None:
        if not ids:
            return
        sel = self.table.selectionModel()
        flags = (sel.SelectionFlag.Select | sel.SelectionFlag.Rows)
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if self.proxy.data(idx, ID_ROLE) in ids:
                sel.select(idx, flags)

    def _on_selection(self, *_) -> None:
        jobs = self.selected_jobs()
        if not jobs:
            return
        job = jobs[0]
        shown = (job["id"], job["state"])
        if shown == self._shown:  # the same job after a refresh: keep what is shown
            return
        if self._shown is None or self._shown[0] != job["id"]:
            self.log_view.setPlainText("loading log...")
        self._shown = shown
        self.tasks.run(jc.log_text, self.context, job["id"], done=self.log_view.setPlainText,
                       error=lambda e: self.log_view.setPlainText(str(e)), channel="log")
        self.tasks.run(jc.job_document, self.context, job,
                       done=lambda d: self.json_view.setPlainText(json.dumps(d, indent=1,
                                                                             default=str)),
                       error=lambda e: self.json_view.setPlainText(str(e)), channel="json")

    def _on_double_click(self, index) -> None:
        """A click on the subject (or study) cell selects it in the subject/study table."""
        key = jc.COLUMNS[index.column()]
        if key not in ("subject", "study"):
            return
        job = next(r for r in self.model.rows if r["id"] == self.proxy.data(index, ID_ROLE))
        ref = job["subject"] + (f"#{job['study']}" if job.get("study") else "")
        self.context.selection = [ref]

    # -- actions ----------------------------------------------------------------------------
    def kill_selected(self):
        jobs = self.selected_jobs()
        if not any(j["state"] in ("queued", "running") for j in jobs):
            self.message.setText("select queued or running jobs to kill")
            return None
        return self.tasks.run(jc.kill, self.context, jobs,
                              done=lambda n: self._acted(f"cancelled {n} job(s)"),
                              error=lambda e: self.message.setText(f"kill failed: {e}"))

    def rerun_failed(self):
        jobs = self.selected_jobs() or [r for r in self.model.rows if r["state"] in jc.FAILED]
        return self.tasks.run(jc.rerun_failed, self.context, jobs,
                              done=lambda res: self._acted(
                                  f"re-launched {sum(r.count for r in res)} job(s)"),
                              error=lambda e: self.message.setText(f"re-run failed: {e}"))

    def _acted(self, text: str) -> None:
        self.message.setText(text)
        self.context.jobs_changed.emit(self.context.project or "")
