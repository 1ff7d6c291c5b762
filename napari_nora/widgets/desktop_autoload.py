"""The Autoloader tab (quality control): a saved list of file patterns becomes the view, and
up/down walks through the studies of the filtered table.

For the current study each pattern's first matching file is opened with its role (background,
overlay, ROI) and the workspace layout is set (saved with the list, or fitted to the data).
Arrow up/down (the workspace's ``subject_step`` hook) or the buttons move the desktop's
selection to the previous/next row of the browser's filtered, sorted table; the next study is
read in a thread worker while the current one is on screen, so the switch only swaps arrays
into the existing layers. QC buttons tag the study (``QC:pass``/``QC:fail``,
``QC:rating=1..5``), which the table shows at once.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel,
                            QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                            QVBoxLayout, QWidget)

from napari_nora.widgets.desktop_context import ARCHIVE_KEY
from napari_nora.widgets.desktop_open import add_layers, read_file
from napari_nora.workspace.layouts import LAYOUTS
from nora_server.desktop import autoload

FIT = "fit to data"


def load_study(session, project: str, ref: str, spec) -> dict:
    """Everything the autoloader shows for ``ref``, read into memory (runs in a worker)."""
    hits = autoload.files_for(session, project, ref, spec)
    files = [(p.role, info.path, read_file(info.location)) for p, info in hits if info]
    missing = [p.pattern for p, info in hits if info is None]
    return {"ref": ref, "files": files, "missing": missing, "tags": session.tags(project, ref)}


def fit_layout(layers) -> str:
    """A layout that fits the data: three orthogonal views for volumes, one view for 2D."""
    volumes = [ly for ly in layers if ly.ndim >= 3 and min(ly.data.shape[-3:]) > 1]
    return "ortho" if volumes else "single"


class PatternTable(QTableWidget):
    """Editable rows of (file pattern, role)."""

    def __init__(self, parent=None):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["File pattern", "Shown as"])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setVisible(False)

    def add(self, pattern: str = "", role: str = "overlay") -> None:
        row = self.rowCount()
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(pattern))
        combo = QComboBox()
        combo.addItems(autoload.ROLES)
        combo.setCurrentText(role)
        self.setCellWidget(row, 1, combo)

    def spec(self, layout: str | None) -> autoload.AutoloadList:
        rows = [(self.item(r, 0).text().strip() if self.item(r, 0) else "",
                 self.cellWidget(r, 1).currentText()) for r in range(self.rowCount())]
        return autoload.AutoloadList([autoload.AutoPattern(p, role) for p, role in rows if p],
                                     layout)

    def set_spec(self, spec: autoload.AutoloadList) -> None:
        self.setRowCount(0)
        for p in spec.patterns:
            self.add(p.pattern, p.role)


class AutoloaderWidget(QWidget):
    """``AutoloaderWidget(context)``: quality control over the browser's filtered table."""

    def __init__(self, context, parent=None):
        super().__init__(parent)
        from napari_nora.widgets.desktop_tasks import Tasks

        self.context = context
        self.active = False
        self.current: str | None = None
        self.layers: list = []
        self.cache: dict[str, dict] = {}  # ref -> loaded study (current, next, previous)
        self._preloading: set[str] = set()
        self._hooked = False
        self.progress = QProgressBar()
        self.status = QLabel("Load a pattern list, select a study and press Start.")
        self.status.setWordWrap(True)
        self.tasks = Tasks(self.progress, on_error=self._show_error, parent=self)
        self.names = QComboBox()
        self.names.setEditable(True)
        self.names.setToolTip("Saved pattern lists of the project (type a new name to save)")
        self.patterns = PatternTable()
        self.layout_box = QComboBox()
        self.layout_box.addItem(FIT)
        self.layout_box.addItems(list(LAYOUTS))
        self.preload = QCheckBox("Preload the next study")
        self.preload.setChecked(True)
        self.qc_label = QLabel()
        self._build()
        context.project_changed.connect(self._on_project_changed)
        context.selection_changed.connect(self._on_selection)
        if context.project is not None:
            self._on_project_changed(context.project)

    def _build(self) -> None:
        def button(text, slot, tip=""):
            b = QPushButton(text)
            b.clicked.connect(lambda *_: slot())
            b.setToolTip(tip)
            return b

        top = QHBoxLayout()
        top.addWidget(QLabel("List"))
        top.addWidget(self.names, 1)
        top.addWidget(button("Load", self.load_list))
        top.addWidget(button("Save", self.save_list, "Store the list in the project"))
        edit = QHBoxLayout()
        edit.addWidget(button("+ pattern", lambda: self.patterns.add()))
        edit.addWidget(button("- pattern", lambda: self.patterns.removeRow(
            max(self.patterns.currentRow(), self.patterns.rowCount() - 1))))
        edit.addWidget(QLabel("Layout"))
        edit.addWidget(self.layout_box, 1)
        nav = QHBoxLayout()
        nav.addWidget(button("Previous (Up)", lambda: self.step(-1)))
        nav.addWidget(button("Start", self.start, "Show the selected study (or the first)"))
        nav.addWidget(button("Next (Down)", lambda: self.step(+1)))
        qc = QGridLayout()
        qc.addWidget(button("QC pass", lambda: self.set_qc(verdict="pass")), 0, 0, 1, 2)
        qc.addWidget(button("QC fail", lambda: self.set_qc(verdict="fail")), 0, 2, 1, 3)
        for n in range(1, 6):
            qc.addWidget(button(str(n), lambda n=n: self.set_qc(rating=n), f"QC rating {n}"),
                         1, n - 1)
        box = QVBoxLayout(self)
        for part in (top, edit):
            box.addLayout(part)
        box.addWidget(self.patterns, 1)
        box.addWidget(self.preload)
        box.addLayout(nav)
        box.addLayout(qc)
        box.addWidget(self.qc_label)
        box.addWidget(self.status)
        box.addWidget(self.progress)

    # -- pattern lists ---------------------------------------------------------------------
    def _on_project_changed(self, project) -> None:
        self.active, self.current = False, None
        self.cache.clear()
        if project is None:
            return
        session = self.context.session

        def names_and_first():
            names = autoload.list_names(session, project)
            return names, (autoload.load_list(session, project, names[0]) if names else None)

        def show(result):
            names, spec = result
            self.names.clear()
            self.names.addItems(names)
            if spec is not None:
                self.set_spec(spec)

        self.tasks.run(names_and_first, done=show, channel="lists")

    def spec(self) -> autoload.AutoloadList:
        layout = self.layout_box.currentText()
        return self.patterns.spec(None if layout == FIT else layout)

    def set_spec(self, spec: autoload.AutoloadList) -> None:
        self.patterns.set_spec(spec)
        self.layout_box.setCurrentText(spec.layout or FIT)
        self.cache.clear()

    def load_list(self) -> None:
        name, session, project = self.names.currentText(), self.context.session, \
            self.context.project
        self.tasks.run(autoload.load_list, session, project, name, done=self.set_spec)

    def save_list(self) -> None:
        name, spec = self.names.currentText(), self.spec()
        self.tasks.run(autoload.save_list, self.context.session, self.context.project, name,
                       spec, done=lambda _: self.status.setText(f"saved list {name!r}"))

    # -- moving through the table ----------------------------------------------------------
    def start(self) -> None:
        """Show the selected study (or the table's first) and follow the selection."""
        if not self._hooked and self.context.viewer is not None:
            from napari_nora.widgets.workspace_views import workspace_for

            workspace_for(self.context.viewer).hooks.subject_step.connect(self.step)
            self._hooked = True
        self.active = True
        self.cache.clear()
        ref = (self.context.selection or [self.context.neighbour(None, +1)])[0]
        if ref is not None:
            self.show(ref)

    def step(self, n: int) -> None:
        """Move the selection ``n`` rows down the filtered table (negative: up)."""
        if not self.active:
            return
        target = self.context.neighbour(self.current, n)
        if target is None:
            self.status.setText("first study of the table" if n < 0 else
                                "last study of the table")
            return
        self.context.selection = [target]  # the browser follows; _on_selection shows it

    def _on_selection(self, refs: list) -> None:
        if self.active and refs and refs[0] != self.current:
            self.show(refs[0])

    def show(self, ref: str) -> None:
        self.current = ref
        if ref in self.cache:
            self._apply(self.cache[ref])
            return
        self.status.setText(f"loading {ref}...")
        if ref in self._preloading:  # already on its way: _loaded shows it
            return
        self.tasks.run(load_study, self.context.session, self.context.project, ref,
                       self.spec(), channel="load", done=self._loaded)

    def _loaded(self, study: dict) -> None:
        self.cache[study["ref"]] = study
        self._preloading.discard(study["ref"])
        if study["ref"] == self.current:
            self._apply(study)

    def _preload(self, ref: str | None) -> None:
        if ref is None or ref in self.cache or ref in self._preloading:
            return
        self._preloading.add(ref)
        self.tasks.run(load_study, self.context.session, self.context.project, ref,
                       self.spec(), done=self._loaded,
                       error=lambda exc, r=ref: self._preloading.discard(r))

    # -- showing ---------------------------------------------------------------------------
    def _apply(self, study: dict) -> None:
        viewer, ref = self.context.viewer, study["ref"]
        entries = [(role, self.context.origin(ref, path), ld)
                   for role, path, data in study["files"] for ld in data]
        if not self._swap(entries):
            for layer in self.layers:
                if layer in viewer.layers:
                    viewer.layers.remove(layer)
            self.layers = []
            for role, origin, ld in entries:
                self.layers += add_layers(viewer, [ld], origin, role)
            self._set_layout()
        for _, origin, _ in entries[:1]:
            self.context.layers_opened.emit(list(self.layers), origin)
        missing = f"; no file for {', '.join(study['missing'])}" if study["missing"] else ""
        self.status.setText(f"{ref}: {len(study['files'])} file(s){missing}")
        self.qc_label.setText("QC: " + (", ".join(t for t in study["tags"] if t.startswith("QC:"))
                                        or "none yet"))
        keep = {ref, self.context.neighbour(ref, +1), self.context.neighbour(ref, -1)}
        for old in [r for r in self.cache if r not in keep]:
            del self.cache[old]
        if self.preload.isChecked():
            self._preload(self.context.neighbour(ref, +1))

    def _swap(self, entries) -> bool:
        """Put the new arrays into the autoloader's layers when they line up one to one
        (same count and kinds): no layer is rebuilt, so the switch is immediate."""
        viewer = self.context.viewer
        if (not self.layers or len(entries) != len(self.layers)
                or any(ly not in viewer.layers for ly in self.layers)):
            return False
        kinds = ["labels" if role == "roi" else kind for role, _, (_, _, kind) in entries]
        if [type(ly).__name__.lower() for ly in self.layers] != kinds:
            return False
        for layer, (role, origin, (data, kwargs, kind)) in zip(self.layers, entries):
            if role == "roi":
                from napari_nora.widgets.desktop_open import _as_roi

                data, kwargs, kind = _as_roi(data, kwargs)
            # each setter refreshes every view that shows the layer: set only what changed
            for attr in ("scale", "translate"):
                if not np.allclose(getattr(layer, attr), kwargs[attr]):
                    setattr(layer, attr, kwargs[attr])
            if kind == "image" and "contrast_limits" in kwargs:
                lo, hi = kwargs["contrast_limits"]
                rng = (min(lo, hi - 1e-6), max(hi, lo + 1e-6))
                if not np.allclose(layer.contrast_limits_range, rng):
                    layer.contrast_limits_range = rng
                if not np.allclose(layer.contrast_limits, (lo, hi)):
                    layer.contrast_limits = (lo, hi)
            layer.data = data
            if layer.name != kwargs["name"]:
                layer.name = kwargs["name"]
            roi_keys = {k: v for k, v in layer.metadata.items() if k.startswith("nora_roi")}
            layer.metadata = {**kwargs.get("metadata", {}), ARCHIVE_KEY: origin, **roi_keys}
        return True

    def _set_layout(self) -> None:
        if self.context.viewer is None or not self.layers:
            return
        from napari_nora.widgets.workspace_views import workspace_for

        wanted = self.spec().layout or fit_layout(self.layers)
        state = workspace_for(self.context.viewer).state
        if state.layout != wanted:
            state.layout = wanted

    # -- QC --------------------------------------------------------------------------------
    def set_qc(self, *, verdict: str | None = None, rating: int | None = None) -> None:
        ref, project = self.current, self.context.project
        if ref is None:
            self.status.setText("no study shown: press Start first")
            return

        def done(tags):
            if ref in self.cache:
                self.cache[ref]["tags"] = tags
            if ref == self.current:
                self.qc_label.setText("QC: " + ", ".join(t for t in tags if t.startswith("QC:")))
            self.context.tags_changed.emit([ref])

        self.tasks.run(autoload.set_qc, self.context.session, project, ref, verdict=verdict,
                       rating=rating, done=done, channel="qc", queue=True)

    def _show_error(self, exc) -> None:
        self.status.setText(f"<span style='color:#e66'>{exc}</span>")
