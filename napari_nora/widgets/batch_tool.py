"""NORA's batch tool: compose a batch of jobs, preview what each FILE pattern matches, save and
load batches, launch them on the selected subjects or studies.

Jobs come from the "Add job" menu: the generic BASH and Python jobs, whose code refers to
``$f1..$f9``, ``$o1..``, ``$p1..``, ``$s1..``, ``$n1..`` (a row appears for each variable as it
is typed), and the registered Python functions of :mod:`nora_server.batch.functions`. A batch
is saved in the project as an archive document (kind ``batch``, as ``nora --savebatch`` does),
or to a JSON file. Launching runs it through the desktop's
:class:`~nora_server.batch.client.BatchClient` (``context.batch``) on ``context.selection``
with the run options, then emits ``context.jobs_changed``; the job monitor shows the jobs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qtpy.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                            QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
                            QVBoxLayout, QWidget)

from napari_nora.widgets import batch_compose as bc
from napari_nora.widgets.batch_editor import BatchEditor, single_shot
from napari_nora.widgets.desktop_context import watch
from napari_nora.widgets.desktop_tasks import Tasks

log = logging.getLogger(__name__)
PREVIEW_TARGETS = 20  # subjects previewed per pattern (the rest is counted)


class BatchToolWidget(QWidget):
    """The batch tool on a :class:`~napari_nora.widgets.desktop_context.DesktopContext`."""

    def __init__(self, context, parent=None):
        super().__init__(parent)
        self.context = context
        self.last_launch = None
        self.previews: dict = {}
        self._preview_timer = single_shot(self, 300, self.update_previews)
        self._build()
        watch(self, context.project_changed, self._on_project_changed)
        watch(self, context.selection_changed, self._on_selection_changed)
        watch(self, context.archive_changed, self._on_archive_changed)
        self._on_project_changed(context.project)

    # -- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.name = QLineEdit("batch")
        self.level = QComboBox()
        self.level.addItems(["subject", "study"])
        self.level.setToolTip("subject: one run per subject (all its studies); study: per study")
        self.saved = QComboBox()
        self.saved.setMinimumWidth(120)
        self.saved.setToolTip("batches saved in this project")
        load, save = QPushButton("Load"), QPushButton("Save")
        imp, exp = QPushButton("Open JSON..."), QPushButton("Save JSON...")
        load.clicked.connect(lambda: self.load_saved(self.saved.currentText()))
        save.clicked.connect(lambda: self.save_to_archive())
        imp.clicked.connect(self._ask_open_json)
        exp.clicked.connect(self._ask_save_json)
        top = QHBoxLayout()
        top.addWidget(QLabel("Batch"))
        top.addWidget(self.name, 1)
        top.addWidget(self.level)
        files = QHBoxLayout()
        for w in (self.saved, load, save, imp, exp):
            files.addWidget(w)
        files.setStretch(0, 1)

        self.jobs_editor = BatchEditor()
        self.jobs_editor.args_changed.connect(self._preview_timer.start)

        options = QGroupBox("Run options")
        section = bc.batch_settings(self.context)
        self.executor = QComboBox()
        self.executor.addItems(["local", "slurm"])
        self.executor.setCurrentText(section.get("executor", "local"))
        self.partition = QLineEdit(section.get("partition") or "")
        self.partition.setPlaceholderText("default queue")
        self.cpus = QSpinBox()
        self.cpus.setRange(1, 256)
        self.cpus.setValue(int(section.get("cpus", 1)))
        self.memory = QDoubleSpinBox()
        self.memory.setRange(0, 4096)
        self.memory.setSuffix(" GB")
        self.memory.setSpecialValueText("default")
        self.memory.setValue(float(section.get("mem_gb") or 0))
        self.time = QSpinBox()
        self.time.setRange(1, 7 * 24 * 60)
        self.time.setSuffix(" min")
        self.time.setValue(int(section.get("time_min", 60)))
        grid = QFormLayout(options)
        grid.addRow("Executor", self.executor)
        grid.addRow("Partition", self.partition)
        row = QHBoxLayout()
        for label, w in (("CPUs", self.cpus), ("Memory", self.memory), ("Time", self.time)):
            row.addWidget(QLabel(label))
            row.addWidget(w)
        grid.addRow(row)

        self.launch_button = QPushButton("Launch")
        self.launch_button.clicked.connect(lambda: self.launch())
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.tasks = Tasks(self.progress, parent=self)

        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addLayout(files)
        box.addWidget(self.jobs_editor, 1)
        box.addWidget(options)
        box.addWidget(self.launch_button)
        box.addWidget(self.progress)
        box.addWidget(self.status)
        self.level.currentTextChanged.connect(self._on_level_changed)

    # -- the batch ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.tasks.busy

    @property
    def jobs(self) -> list[dict]:
        return self.jobs_editor.jobs

    def add_job(self, kind: str) -> dict:
        """Append a job from the menu: ``bash``, ``python`` or ``function:<name>``."""
        return self.jobs_editor.add_job(kind)

    def resources(self) -> dict:
        res = {"cpus": self.cpus.value(), "time_min": self.time.value()}
        if self.partition.text().strip():
            res["partition"] = self.partition.text().strip()
        if self.memory.value() > 0:
            res["mem_gb"] = self.memory.value()
        return res

    def document(self) -> dict:
        """The batch as a document (what is saved and launched)."""
        self.jobs_editor.flush()
        return bc.batch_doc(self.name.text(), self.level.currentText(), self.jobs,
                            self.resources())

    def set_document(self, doc: dict) -> None:
        """Show a batch document (validated first: a bad one changes nothing)."""
        from nora_server.batch.client import BatchClient

        batch = BatchClient.validate(doc)
        self.name.setText(batch["name"])
        self.level.setCurrentText(batch["level"])
        res = batch["resources"]
        if "partition" in res:
            self.partition.setText(res["partition"] or "")
        if "cpus" in res:
            self.cpus.setValue(int(res["cpus"]))
        if "mem_gb" in res:
            self.memory.setValue(float(res["mem_gb"] or 0))
        if "time_min" in res:
            self.time.setValue(int(res["time_min"]))
        self.jobs_editor.set_jobs(batch["jobs"])

    # -- save / load ----------------------------------------------------------------------------
    def saved_batches(self) -> list[str]:
        if self.context.project is None:
            return []
        return self.context.batch.batches(self.context.project)

    def save_to_archive(self) -> str | None:
        """Store the batch in the project (a ``batch`` document); returns its name."""
        return self._guard(lambda: self._saved(self.context.batch.save(self._project(),
                                                                       self.document())))

    def _saved(self, name: str) -> str:
        self._refresh_saved(name)
        self._say(f"saved batch {name!r} in project {self.context.project}")
        return name

    def load_saved(self, name: str) -> bool:
        if not name:
            return False
        return self._guard(lambda: (self.set_document(self.context.batch.load(
            self._project(), name)), self._say(f"loaded {name!r}"))) is not None

    def save_json(self, path) -> Path | None:
        from nora_server.batch.client import BatchClient

        def write():
            doc = self.document()
            BatchClient.validate(doc)
            Path(path).write_text(json.dumps(doc, indent=1))
            self._say(f"wrote {path}")
            return Path(path)
        return self._guard(write)

    def load_json(self, path) -> bool:
        def read():
            try:
                doc = json.loads(Path(path).read_text())
            except ValueError as exc:
                raise ValueError(f"{path} is not valid JSON: {exc}") from None
            self.set_document(doc)
            self._say(f"opened {path}")
            return True
        return bool(self._guard(read))

    def _ask_open_json(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open batch", "", "Batch (*.json)")
        if path:
            self.load_json(path)

    def _ask_save_json(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save batch", bc.json_name(self.name.text()),
                                              "Batch (*.json)")
        if path:
            self.save_json(path)

    # -- launch -----------------------------------------------------------------------------
    def launch(self):
        """Launch the batch on the selection in a worker; returns the worker (or None)."""
        from nora_server.batch.client import BatchClient

        refs = self.context.selection
        try:
            project = self._project()
            doc = self.document()
            BatchClient.validate(doc)
            if not refs:
                raise ValueError("select subjects or studies in the table first")
        except Exception as exc:  # noqa: BLE001 - said in the status line
            self._say(str(exc), error=True)
            return None
        executor, level = self.executor.currentText(), doc["level"]
        self.launch_button.setEnabled(False)
        self._say(f"launching {doc['name']!r} on {len(refs)} selected ({level} level)...")

        def work():
            return self.context.batch.launch(project, doc, refs, level=level,
                                             resources=doc["resources"], executor=executor)
        return self.tasks.run(work, done=self._launched, error=self._launch_failed)

    def _launched(self, result) -> None:
        self.last_launch = result
        self.launch_button.setEnabled(True)
        self._say(f"launched {result.count} job(s) on {self.executor.currentText()} "
                  f"(launch {result.launch_id[:8]}); see the job monitor")
        self.context.jobs_changed.emit(self.context.project or "")

    def _launch_failed(self, exc) -> None:
        self.launch_button.setEnabled(True)
        self._say(f"launch failed: {exc}", error=True)

    # -- previews ---------------------------------------------------------------------------
    def update_previews(self):
        """Recompute the FILE previews of the current job in a worker (latest request wins)."""
        rows = self.jobs_editor.file_args()
        project, refs = self.context.project, self.context.selection
        if not rows or project is None or not refs:
            self.tasks.drop("previews")  # a preview still running must not overwrite this
        if not rows:
            return None
        if project is None or not refs:
            for v in rows:
                self.jobs_editor.rows[v].set_preview("select subjects or studies to preview")
            return None
        level, context = self.level.currentText(), self.context

        def work():
            client = context.batch
            targets = client.targets(project, refs, level=level)
            first = targets[:PREVIEW_TARGETS]
            root = context.session.project(project).root
            out = {}
            for v, a in rows.items():
                pattern = a["pattern"].strip()
                previews = (bc.shown(client.preview(project, pattern, study=a.get("study", ""),
                                                    level=level, targets=first), root)
                            if pattern else [bc.Preview(t.label, error="no pattern")
                                             for t in first])
                out[v] = (previews, len(targets) - len(first))
            return out
        return self.tasks.run(work, done=self._show_previews, error=self._preview_failed,
                              channel="previews")

    def _show_previews(self, result) -> None:
        for var, (previews, more) in result.items():
            row = self.jobs_editor.rows.get(var)
            if row is None:
                continue
            files = [f"{p.target}: {f}" for p in previews for f in p.files]
            files += [f"{p.target}: {p.error}" for p in previews if p.error]
            ok = bool(previews) and all(p.files for p in previews)
            row.set_preview(bc.summarise(previews, more), files, ok=ok)
        self.previews = result

    def _preview_failed(self, exc) -> None:
        for row in self.jobs_editor.rows.values():
            row.set_preview(f"preview failed: {exc}", ok=False)

    # -- reactions ----------------------------------------------------------------------------
    def _on_level_changed(self, level: str) -> None:
        self._update_launch_label()
        self._preview_timer.start()

    def _on_project_changed(self, project) -> None:
        self._refresh_saved()
        self._update_launch_label()
        self._preview_timer.start()

    def _on_archive_changed(self, project) -> None:
        self._preview_timer.start()

    def _on_selection_changed(self, refs) -> None:
        self._update_launch_label()
        self._preview_timer.start()

    def _update_launch_label(self) -> None:
        refs = self.context.selection
        level = self.level.currentText()
        n = len({r.split("#")[0] for r in refs}) if level == "subject" else len(refs)
        noun = "subject" if level == "subject" else "selected row"
        self.launch_button.setText(f"Launch on {n} {noun}{'s' if n != 1 else ''}")
        self.launch_button.setEnabled(bool(refs) and self.context.project is not None)

    def _refresh_saved(self, select: str | None = None) -> None:
        try:
            names = self.saved_batches()
        except Exception as exc:  # noqa: BLE001 - a project the user may not read
            names = []
            self._say(str(exc), error=True)
        self.saved.clear()
        self.saved.addItems(names)
        if select:
            self.saved.setCurrentText(select)

    # -- helpers ----------------------------------------------------------------------------
    def _project(self) -> str:
        if self.context.project is None:
            raise ValueError("choose a project first")
        return self.context.project

    def _guard(self, fn):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the user sees what was wrong
            self._say(str(exc), error=True)
            return None

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d9534f" if error else "")
        if error:
            log.info("batch tool: %s", text)
