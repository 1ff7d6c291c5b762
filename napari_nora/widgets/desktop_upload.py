"""The Upload tab: local files into the selected study, or by the data's own IDs.

Drop files or folders on the tab (or use the buttons); the list shows what each becomes
(a DICOM import, or a file at ``<series folder>/<name>`` with the IDs found in it). Upload runs
:func:`nora_server.desktop.upload.upload` in a thread worker with a progress bar: DICOM zips and
folders through the import pipeline, other files copied into the archive.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (QButtonGroup, QCheckBox, QFileDialog, QHBoxLayout, QLabel,
                            QLineEdit, QListWidget, QPlainTextEdit, QProgressBar, QPushButton,
                            QRadioButton, QVBoxLayout, QWidget)

from nora_server.desktop import upload as uploads


def describe(item) -> str:
    if item.kind == "dicom":
        return f"DICOM import: {item.source}"
    ids = item.native
    native = " ".join(f"{k}={ids[k]}" for k in ("patient_id", "study") if ids.get(k))
    return f"{item.source.name}  ->  {item.rel}" + (f"   [{native}]" if native else "")


class UploadWidget(QWidget):
    """``UploadWidget(context)``: upload into ``context.project``."""

    def __init__(self, context, parent=None):
        super().__init__(parent)
        from napari_nora.widgets.desktop_tasks import Tasks

        self.context = context
        self.paths: list[Path] = []
        self.items: list = []
        self._native_forced = False
        self.setAcceptDrops(True)
        self.progress = QProgressBar()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.tasks = Tasks(self.progress, on_error=self._show_error, parent=self)
        self.list = QListWidget()
        self.to_selected = QRadioButton()
        self.to_native = QRadioButton("Subject/study named by the data")
        self.to_native.setToolTip("Native IDs: the DICOM PatientID, a JSON sidecar's "
                                  "PatientID, or sub-/ses- folders")
        group = QButtonGroup(self)
        for b in (self.to_selected, self.to_native):
            group.addButton(b)
        self.to_native.clicked.connect(lambda: setattr(self, "_native_forced", False))
        self.to_selected.setChecked(True)
        self.series = QLineEdit("upload")
        self.series.setToolTip("Series folder for single files (files inside a dropped folder "
                               "keep that folder's name)")
        self.series.editingFinished.connect(self._rescan)
        self.overwrite = QCheckBox("Replace files that exist already")
        self.upload_button = QPushButton("Upload")
        self.upload_button.clicked.connect(self.upload)

        def button(text, slot):
            b = QPushButton(text)
            b.clicked.connect(lambda *_: slot())
            return b

        add = QHBoxLayout()
        add.addWidget(button("Add files...", self._pick_files))
        add.addWidget(button("Add folder...", self._pick_folder))
        add.addWidget(button("Clear", self.clear))
        series = QHBoxLayout()
        series.addWidget(QLabel("Series folder"))
        series.addWidget(self.series, 1)
        box = QVBoxLayout(self)
        box.addWidget(QLabel("Drop files, folders or DICOM zips here:"))
        box.addLayout(add)
        box.addWidget(self.list, 1)
        box.addWidget(self.to_selected)
        box.addWidget(self.to_native)
        box.addLayout(series)
        box.addWidget(self.overwrite)
        box.addWidget(self.upload_button)
        box.addWidget(self.progress)
        box.addWidget(self.log, 1)
        context.selection_changed.connect(self._on_selection)
        context.project_changed.connect(lambda _: self._on_selection(context.selection))
        self._on_selection(context.selection)

    # -- choosing files --------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Files to upload")
        self.add_paths(files)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to upload")
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths) -> None:
        """Add local files/folders/zips to the list (scanned in a worker)."""
        self.paths += [Path(p) for p in paths if p]
        self._rescan()

    def clear(self) -> None:
        self.paths, self.items = [], []
        self.list.clear()

    def _rescan(self) -> None:
        paths, series = list(self.paths), self.series.text().strip() or "upload"

        def show(items):
            self.items = items
            self.list.clear()
            self.list.addItems([describe(i) for i in items])

        self.tasks.run(uploads.scan, paths, series=series, channel="scan", done=show)

    def _on_selection(self, refs: list) -> None:
        study = next((r for r in refs if "#" in r), None)
        self.to_selected.setText(f"Selected study: {study}" if study else
                                 "Selected study: (select a study in the Browser)")
        self.to_selected.setEnabled(study is not None)
        if study is None and self.to_selected.isChecked():
            self.to_native.setChecked(True)
            self._native_forced = True  # not the user's choice: undone when a study is picked
        elif study is not None and self._native_forced:
            self.to_selected.setChecked(True)
            self._native_forced = False

    # -- uploading -------------------------------------------------------------------------
    def target(self) -> str | None:
        """The chosen study (``PID#SID``), or None for native IDs."""
        if self.to_native.isChecked():
            return None
        return next((r for r in self.context.selection if "#" in r), None)

    def upload(self) -> None:
        project, ref = self.context.project, self.target()
        if not self.paths or project is None:
            self.log.appendPlainText("nothing to upload: drop files first")
            return
        if ref is None and not self.to_native.isChecked():
            self.log.appendPlainText("select a target study in the Browser, or choose native IDs")
            return
        paths, series = list(self.paths), self.series.text().strip() or "upload"
        session, settings = self.context.session, self.context.settings
        overwrite, relay = self.overwrite.isChecked(), self.tasks.relay()

        def work():
            items = uploads.scan(paths, series=series)
            return uploads.upload(session, project, items, ref=ref, settings=settings,
                                  overwrite=overwrite, progress=relay)

        self.upload_button.setEnabled(False)
        self.log.appendPlainText(f"uploading {len(paths)} item(s) to "
                                 f"{ref or 'the subjects named by the data'} in {project}...")
        self.tasks.run(work, done=self._done, error=self._failed)

    def _done(self, report) -> None:
        self.upload_button.setEnabled(True)
        for line in report.lines():
            self.log.appendPlainText(line)
        self.log.appendPlainText(f"done: {len(report.added)} file(s) added, "
                                 f"{len(report.errors)} error(s)")
        if report.added:
            self.context.archive_changed.emit(self.context.project)
        if report.added and not report.errors:
            self.clear()

    def _failed(self, exc) -> None:
        self.upload_button.setEnabled(True)
        self._show_error(exc)

    def _show_error(self, exc) -> None:
        self.log.appendPlainText(f"error: {exc}")
