"""The job part of the batch tool: the list of jobs, the "Add job" menu and the editor of one
job (its name, its code or function, one argument row per variable).

The editor holds ``jobs`` (job dicts of the batch document) and emits ``args_changed`` when a
FILE argument, the shown job or its rows change, so the tool can refresh the previews. The code
is read 250 ms after the last key; rows appear and disappear with the variables it uses, and a
row taken away keeps its values in case the variable comes back.
"""

from __future__ import annotations

from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QMenu,
                            QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget)

from napari_nora.widgets import batch_compose as bc
from napari_nora.widgets.batch_args import ArgRow

ARG_TYPES = ("FILE", "OUT", "PATHOUT", "STRING", "OPTION", "NUMERIC", "LOGICAL")
_LETTER = {"FILE": "f", "OUT": "o", "PATHOUT": "p", "STRING": "s", "OPTION": "s",
           "NUMERIC": "n", "LOGICAL": "n"}


def single_shot(parent, ms: int, slot) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer


class BatchEditor(QWidget):
    """Jobs of a batch: list, menu, and the editor of the job selected in the list."""

    args_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.jobs: list[dict] = []
        self._kept: list[dict] = []      # per job: arguments of variables no longer in the code
        self._current = -1
        self.rows: dict[str, ArgRow] = {}
        self._code_timer = single_shot(self, 250, self._sync_rows)
        self._build()

    def _build(self) -> None:
        self.job_list = QListWidget()
        self.job_list.setMaximumHeight(80)
        self.job_list.currentRowChanged.connect(self._show_job)
        self.add_button = QToolButton()
        self.add_button.setText("Add job")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_menu = QMenu(self)
        self.add_button.setMenu(self.add_menu)
        for kind, label in bc.GENERIC.items():
            self.add_menu.addAction(label, lambda k=kind: self.add_job(k))
        functions = self.add_menu.addMenu("Python functions")
        for name, doc in bc.function_catalog().items():
            functions.addAction(name, lambda n=name: self.add_job(f"function:{n}")).setToolTip(doc)
        functions.setToolTipsVisible(True)
        remove, up, down = QPushButton("Remove"), QPushButton("Up"), QPushButton("Down")
        remove.clicked.connect(self.remove_job)
        up.clicked.connect(lambda: self.move_job(-1))
        down.clicked.connect(lambda: self.move_job(1))
        buttons = QHBoxLayout()
        for w in (self.add_button, remove, up, down):
            buttons.addWidget(w)
        buttons.addStretch(1)

        self.editor = QGroupBox("Job")
        self.job_name = QLineEdit()
        self.job_name.textEdited.connect(self._on_job_name)
        self.code = QPlainTextEdit()
        self.code.setPlaceholderText("code: $f1..$f9 files, $o1 outputs, $p1 output folders, "
                                     "$s1 strings, $n1 numbers")
        self.code.setMinimumHeight(60)
        self.code.setMaximumHeight(160)
        self.code.textChanged.connect(self._code_timer.start)
        self.doc = QLabel("")
        self.doc.setWordWrap(True)
        self.add_arg = QToolButton()
        self.add_arg.setText("Add argument")
        self.add_arg.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.add_arg)
        for kind in ARG_TYPES:
            menu.addAction(kind, lambda k=kind: self.add_argument(k))
        self.add_arg.setMenu(menu)
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(0)
        form = QVBoxLayout(self.editor)
        head = QHBoxLayout()
        head.addWidget(QLabel("Name"))
        head.addWidget(self.job_name, 1)
        head.addWidget(self.add_arg)
        form.addLayout(head)
        form.addWidget(self.doc)
        form.addWidget(self.code)
        form.addLayout(self.rows_box)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.job_list)
        box.addLayout(buttons)
        box.addWidget(self.editor, 1)
        self._show_job(-1)

    # -- jobs -------------------------------------------------------------------------------
    def add_job(self, kind: str) -> dict:
        """Append a job from the menu: ``bash``, ``python`` or ``function:<name>``."""
        self.flush()
        job = bc.new_job(kind, number=len(self.jobs) + 1)
        self.jobs.append(job)
        self._kept.append({})
        self._refresh_list(len(self.jobs) - 1)
        return job

    def remove_job(self) -> None:
        i = self._current
        if 0 <= i < len(self.jobs):
            self._code_timer.stop()
            del self.jobs[i], self._kept[i]
            self._current = -1
            self._refresh_list(min(i, len(self.jobs) - 1))

    def move_job(self, step: int) -> None:
        self.flush()
        i, j = self._current, self._current + step
        if 0 <= i < len(self.jobs) and 0 <= j < len(self.jobs):
            self.jobs[i], self.jobs[j] = self.jobs[j], self.jobs[i]
            self._kept[i], self._kept[j] = self._kept[j], self._kept[i]
            self._current = -1
            self._refresh_list(j)

    def set_jobs(self, jobs: list[dict]) -> None:
        self._code_timer.stop()
        self.jobs = [dict(j) for j in jobs]
        self._kept = [{} for _ in self.jobs]
        self._current = -1
        self._refresh_list(0 if self.jobs else -1)

    def add_argument(self, kind: str) -> dict | None:
        """Add an argument of ``kind`` to a function job (generic jobs get theirs from the
        code): the next free variable of its letter."""
        i = self._current
        if not (0 <= i < len(self.jobs)) or self.jobs[i]["type"] != "function":
            return None
        letter = _LETTER[kind]
        used = {a["var"] for a in self.jobs[i]["args"]}
        var = next(f"{letter}{n}" for n in range(1, 100) if f"{letter}{n}" not in used)
        arg = bc.default_arg(var, kind)
        self.jobs[i]["args"] = sorted([*self.jobs[i]["args"], arg],
                                      key=lambda a: bc.var_key(a["var"]))
        self._build_rows(self.jobs[i]["args"])
        return arg

    def flush(self) -> None:
        """Code typed in the last moment belongs to the job shown now."""
        if self._code_timer.isActive():
            self._code_timer.stop()
            self._sync_rows()

    def file_args(self) -> dict[str, dict]:
        """The FILE arguments of the job shown: ``{var: arg}``."""
        return {v: a for v, a in ((v, r.arg()) for v, r in self.rows.items())
                if a["type"] == "FILE"}

    # -- the editor ---------------------------------------------------------------------------
    def _refresh_list(self, select: int) -> None:
        self.job_list.blockSignals(True)
        self.job_list.clear()
        for n, job in enumerate(self.jobs, 1):
            self.job_list.addItem(_label(n, job))
        self.job_list.blockSignals(False)
        self._current = -1
        self.job_list.setCurrentRow(select)
        self._show_job(select)

    def _show_job(self, index: int) -> None:
        if index == self._current and index != -1:
            return
        self.flush()
        self._current = index
        job = self.jobs[index] if 0 <= index < len(self.jobs) else None
        self.editor.setEnabled(job is not None)
        self.job_name.setText(job["name"] if job else "")
        generic = job is not None and job["type"] != "function"
        self.code.blockSignals(True)
        self.code.setPlainText(job.get("code", "") if generic else "")
        self.code.blockSignals(False)
        self.code.setVisible(generic or job is None)
        self.add_arg.setVisible(job is not None and not generic)
        self.doc.setVisible(job is not None and not generic)
        if job is not None and not generic:
            self.doc.setText(f"{job['function']}: "
                             + bc.function_catalog().get(job["function"], ""))
        self._build_rows(job["args"] if job else [])

    def _build_rows(self, args: list[dict]) -> None:
        old = self.rows
        self.rows = {}
        for arg in args:
            row = old.pop(arg["var"], None)
            if row is None:
                row = ArgRow(arg)
                row.changed.connect(self._on_arg_changed)
            else:
                row.set_arg(arg)
            self.rows[arg["var"]] = row
        for row in old.values():
            row.setParent(None)
            row.deleteLater()
        for row in self.rows.values():  # re-add in variable order
            self.rows_box.removeWidget(row)
            self.rows_box.addWidget(row)
        self.args_changed.emit()

    def _sync_rows(self) -> None:
        """The code changed: one row per variable it uses (debounced)."""
        i = self._current
        if not (0 <= i < len(self.jobs)) or self.jobs[i]["type"] == "function":
            return
        job = self.jobs[i]
        job["code"] = self.code.toPlainText()
        job["args"] = bc.sync_args(job["code"], [r.arg() for r in self.rows.values()],
                                   self._kept[i])
        if [a["var"] for a in job["args"]] != list(self.rows):
            self._build_rows(job["args"])

    def _on_arg_changed(self, var: str) -> None:
        i = self._current
        if 0 <= i < len(self.jobs):
            self.jobs[i]["args"] = [r.arg() for r in self.rows.values()]
        if self.rows[var].arg()["type"] == "FILE":
            self.args_changed.emit()

    def _on_job_name(self, text: str) -> None:
        if 0 <= self._current < len(self.jobs):
            self.jobs[self._current]["name"] = text
            item = self.job_list.item(self._current)
            if item is not None:
                item.setText(_label(self._current + 1, self.jobs[self._current]))


def _label(n: int, job: dict) -> str:
    kind = job["function"] if job["type"] == "function" else job["type"].upper()
    return f"{n}. {job['name']}  [{kind}]"
