"""The Browser tab: the project's subject/study table with filter bars, tags and job markers,
and the file tree of the current study.

All archive calls run in thread workers (:mod:`napari_nora.widgets.desktop_tasks`): loading
the table (one query for 100k studies), each filter (the archive's filter language, answered
as study ids), file listings, tagging. The widget writes the selection into the shared
:class:`~napari_nora.widgets.desktop_context.DesktopContext` and follows it when another tool
(the autoloader) moves it.
"""

from __future__ import annotations

from qtpy.QtCore import QItemSelection, QItemSelectionModel, Qt
from qtpy.QtWidgets import (QAbstractItemView, QApplication, QHBoxLayout, QInputDialog, QLabel,
                            QLineEdit, QMenu, QProgressBar, QSplitter, QTableView, QVBoxLayout,
                            QWidget)

from napari_nora.widgets.desktop_files import FileTree
from napari_nora.widgets.desktop_open import ArchiveOpener, CanvasDrops, install_drops
from napari_nora.widgets.desktop_table import FilterHeader, StudyTableModel
from nora_server.desktop import table as study_table

ROW_HEIGHT = 22
MAX_COLUMN_PX = 130


def load_matcher(context, project: str):
    """The project's table with its job markers and filter indexes, built in the worker (not
    on a key)."""
    from nora_server.desktop.matching import Matcher

    table = study_table.load_table(context.session, project)
    table.jobs = job_markers(context, table)
    return Matcher(table).prepare()


def job_markers(context, table) -> dict[int, str]:
    """``table.jobs`` from the batch client's job markers of the table's project."""
    return study_table.job_states(table, context.batch.markers(table.project))


class BrowserWidget(QWidget):
    """``BrowserWidget(context)``: the subject/study table of ``context.project``."""

    def __init__(self, context, parent=None):
        super().__init__(parent)
        from napari_nora.widgets.desktop_tasks import Tasks

        self.context = context
        self.bars: dict[str, str] = {}
        self.matcher = None  # answers the filter bars on the loaded table
        self._syncing = False
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(14)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.tasks = Tasks(self.progress, on_error=self._show_error, parent=self)
        self.opener = ArchiveOpener(context, self.tasks)

        self.file_search = QLineEdit()
        self.file_search.setPlaceholderText("file search: t1_trio*/s0*.nii & STAG:control")
        self.file_search.setClearButtonEnabled(True)
        self.file_search.textChanged.connect(lambda t: self.set_bar("files", t))
        self.model = StudyTableModel(self)
        self.view = QTableView()
        self.header = FilterHeader(self.view)
        self.view.setHorizontalHeader(self.header)
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setWordWrap(False)
        vh = self.view.verticalHeader()
        vh.setSectionResizeMode(vh.ResizeMode.Fixed)  # no per-row size computation: 100k rows
        vh.setDefaultSectionSize(ROW_HEIGHT)
        vh.setVisible(False)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.header.setResizeContentsPrecision(100)  # widths from the first rows, not 100k
        self.header.filter_edited.connect(self.set_bar)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection)
        self.model.view_changed.connect(self._on_view_changed)
        self.files = FileTree()
        self.files.file_activated.connect(lambda info: self.opener.open_files([info]))

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.files)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.file_search)
        box.addWidget(split, 1)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.progress)
        box.addLayout(row)

        context.order = self.model
        context.project_changed.connect(self._on_project_changed)
        context.archive_changed.connect(self._on_archive_changed)
        context.jobs_changed.connect(self._on_jobs_changed)
        context.tags_changed.connect(self._on_tags_changed)
        context.selection_changed.connect(self._on_context_selection)
        self.drops = CanvasDrops(self.opener, self.drop_pattern, parent=self)
        if context.viewer is not None:
            install_drops(context.viewer, self.drops)
        if context.project is not None:
            self.reload()

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Load the whole table of the current project (in a worker)."""
        project = self.context.project
        if project is None:
            self.model.set_table(None)
            return
        self.status.setText(f"loading {project}...")
        self.tasks.run(load_matcher, self.context, project,
                       channel="table", done=self._on_table_loaded)

    def _on_table_loaded(self, matcher) -> None:
        table = matcher.table
        if table.project != self.context.project:
            return
        self.matcher = matcher
        self.model.set_table(table)
        # the file search stays in memory once the project's paths are indexed (in a worker)
        self.tasks.run(matcher.build_files, self.context.session, channel="file-index")
        from nora_server.desktop.table import COLUMNS, IDENTITY_COLUMNS

        for col, key in enumerate(COLUMNS):
            self.view.setColumnHidden(col, key in IDENTITY_COLUMNS and not table.identity)
        self.header._place()
        self.view.resizeColumnsToContents()
        for col in range(self.model.columnCount()):  # long descriptions get a tooltip instead
            self.view.setColumnWidth(col, min(self.view.columnWidth(col), MAX_COLUMN_PX))
        if any(t.strip() for t in self.bars.values()):
            self._query()
        self._show_files()  # the archive changed: the current study's files may have too

    def _on_project_changed(self, project) -> None:
        self.files.show_files(project, None, [])
        self.reload()

    def _on_archive_changed(self, project: str) -> None:
        if project == self.context.project:
            self.reload()

    def _on_jobs_changed(self, project: str) -> None:
        table = self.model.table
        if table is None or project != table.project:
            return

        def update(jobs):
            if self.model.table is table:
                table.jobs = jobs
                self.model.refresh_rows(None)

        self.tasks.run(job_markers, self.context, table, channel="jobs", done=update)

    def _on_tags_changed(self, refs: list) -> None:
        table = self.model.table
        if table is None:
            return
        wanted = {r.lower() for r in refs}
        rows = [r for r in range(len(table)) if table.ref(r).lower() in wanted
                or table.columns["subject"][r].lower() in wanted]

        def update(_):
            self.model.refresh_rows(rows)
            self._show_files()

        self.tasks.run(study_table.refresh_tags, self.context.session, table, rows,
                       channel="tags", done=update)

    # -- filtering -------------------------------------------------------------------------
    def set_bar(self, key: str, text: str) -> None:
        """Set one filter bar (a table column, or ``files``: the file search) and query."""
        self.bars[study_table.BARS.get(key) or key] = text
        self._query()

    def _query(self) -> None:
        bars = {k: v for k, v in self.bars.items() if v.strip()}
        for key in self.header.editors:
            self.header.set_error(key, None)
        self.file_search.setStyleSheet("")
        if self.model.table is None:
            return
        if not bars:
            self.tasks.run(lambda: None, channel="filter", done=self.model.set_mask)
            return
        try:
            study_table.check_bars(bars)
        except Exception as exc:  # noqa: BLE001 - FilterError: shown at its bar
            self._show_error(exc)
            return
        self.tasks.run(self.matcher.match, self.context.session, bars, channel="filter",
                       done=self.model.set_mask)

    def drop_pattern(self) -> str:
        """The file pattern a dragged study row opens: the file search's first plain term."""
        from nora_server.archive.filters import parse

        try:
            flt = parse(self.bars.get("files", ""))
        except Exception:  # noqa: BLE001 - a half-typed search: everything
            return "*"
        plain = [t.value for g in flt.groups for t in g if not t.attr]
        return plain[0] + ("" if plain[0].endswith("*") else "*") if plain else "*"

    def _show_error(self, exc) -> None:
        import re

        text = str(exc)
        m = re.match(r"(\w+) bar:|filtering by (\w+) ", text)
        key = (m.group(1) or m.group(2)) if m else None
        key = {bar: col for col, bar in study_table.BARS.items() if bar}.get(key, key)
        if key == "files":
            self.file_search.setStyleSheet("QLineEdit { background: #5a1e1e; }")
        elif key in self.header.editors:
            self.header.set_error(key, text)
        self.status.setText(f"<span style='color:#e66'>{text}</span>")

    # -- selection -------------------------------------------------------------------------
    def _on_view_changed(self) -> None:
        table = self.model.table
        total = len(table) if table is not None else 0
        self.status.setText(f"{self.model.rowCount():,} of {total:,} studies")
        self._select_refs(self.context.selection, scroll=False)

    def _on_view_selection(self, *args) -> None:
        if self._syncing:
            return
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        self._syncing = True
        try:
            self.context.selection = self.model.refs(rows)
        finally:
            self._syncing = False
        self._show_files()

    def _on_context_selection(self, refs: list) -> None:
        if not self._syncing:
            self._select_refs(refs, scroll=True)
            self._show_files()

    def _select_refs(self, refs, *, scroll: bool) -> None:
        sel = QItemSelection()
        last = self.model.columnCount() - 1
        first = None
        for ref in refs:
            pos = self.model.position_of(ref)
            if pos is not None:
                sel.select(self.model.index(pos, 0), self.model.index(pos, last))
                first = pos if first is None else first
        self._syncing = True
        try:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.view.selectionModel().select(sel, flags)
            if first is not None:
                self.view.selectionModel().setCurrentIndex(
                    self.model.index(first, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
                if scroll:
                    self.view.scrollTo(self.model.index(first, 0))
        finally:
            self._syncing = False

    def _show_files(self) -> None:
        refs = self.context.selection
        project = self.context.project
        if not refs or project is None:
            self.files.show_files(project, None, [])
            return
        ref = refs[0]
        self.tasks.run(self.context.session.select_files, project, "*", ref=ref,
                       with_tags=True, channel="files",
                       done=lambda files: self.files.show_files(project, ref, files))

    # -- tags ------------------------------------------------------------------------------
    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        can_write = self.context.can("write")
        for label, level, remove in (("Add study tag...", "study", False),
                                     ("Remove study tag...", "study", True),
                                     ("Add subject tag...", "subject", False),
                                     ("Remove subject tag...", "subject", True)):
            act = menu.addAction(label)
            act.setEnabled(can_write and bool(self.context.selection))
            act.triggered.connect(lambda _=False, lv=level, rm=remove: self.edit_tags(lv, rm))
        menu.addSeparator()
        menu.addAction("Copy references").triggered.connect(
            lambda: QApplication.clipboard().setText("\n".join(self.context.selection)))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def ask_tags(self, title: str, choices: list[str]) -> str | None:
        """Ask for tags (comma separated); None when cancelled (tests replace this)."""
        text, ok = QInputDialog.getItem(self, title, "Tags (comma separated):", choices, 0, True)
        return text if ok and text.strip() else None

    def edit_tags(self, level: str, remove: bool, tags: str | None = None) -> None:
        """Add or remove tags on the selected studies (``level="study"``) or their subjects."""
        refs = self.context.selection
        if level == "subject":
            refs = list(dict.fromkeys(r.partition("#")[0] for r in refs))
        if not refs:
            return
        if tags is None:
            choices = self._tags_of_selection(level) if remove else []
            tags = self.ask_tags(f"{'Remove' if remove else 'Add'} {level} tag", choices)
            if tags is None:
                return
        session, project = self.context.session, self.context.project

        def work():
            for ref in refs:
                session.tag(project, ref, tags, remove=remove)
            return refs

        self.tasks.run(work, done=self.context.tags_changed.emit)

    def _tags_of_selection(self, level: str) -> list[str]:
        table = self.model.table
        positions = [self.model.position_of(r) for r in self.context.selection]
        rows = [self.model.row_of_view(p) for p in positions if p is not None]
        store, ids = ((table.study_tags, table.study_ids) if level == "study"
                      else (table.subject_tags, table.subject_ids))
        return sorted({t for r in rows for t in store.get(int(ids[r]), [])}, key=str.lower)
