"""NORA's PACS querier: search a PACS of nora.toml, browse patients -> studies -> series, pull
the checked ones into the current project.

The query fields follow DICOM matching: a name as ``Family^Given`` with ``*`` wildcards, a
patient ID, a date (``*`` any, ``20240315``, ranges ``20240101-20240131`` with open ends,
``2024*`` a year) and a modality. The C-FIND runs in a thread worker; the series of a study
are asked for (C-FIND at series level) when the study is expanded. Checked studies are
retrieved whole, checked series alone; "Pull selected" retrieves them the way the node is
configured (C-MOVE to our node or C-GET) and imports them through the import pipeline, with a
progress bar. Patient names are pseudonymised (the subject the patient has or would get in the
project), IDs and birth dates hidden by default; the reveal toggle is enabled only for users
with the ``identity`` right on the current project.

Everything DICOM goes through :mod:`nora_server.dicom.api`, imported in the methods.
"""

from __future__ import annotations

import logging

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                            QLineEdit, QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem,
                            QVBoxLayout, QWidget)

from napari_nora.widgets.desktop_context import watch
from napari_nora.widgets.desktop_tasks import Tasks, deleted

log = logging.getLogger(__name__)

COLUMNS = ("Patient / study / series", "Patient ID", "Birth date", "Date", "Modality",
           "Accession", "Series / images")
MODALITIES = ("", "MR", "CT", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SEG")
DATA = Qt.ItemDataRole.UserRole
CHECKABLE = Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | \
    Qt.ItemFlag.ItemIsSelectable
STAGES = {"query": "searching", "retrieve": "retrieving", "unzip": "unpacking",
          "index": "reading headers", "convert": "converting", "place": "importing",
          "node": "waiting for the DICOM node to import"}
HIDDEN = "****"


class PacsQueryWidget(QWidget):
    """The PACS query tool on a :class:`~napari_nora.widgets.desktop_context.DesktopContext`."""

    def __init__(self, context, parent=None):
        super().__init__(parent)
        from nora_server.dicom import api

        self.context = context
        self.dicom = api.dicom_settings(context.settings)
        self._syncing = False
        self.patients: list = []             # api.PatientNode of the last search
        self.shown_names: dict[str, str] = {}  # patient ID -> pseudonym shown instead
        self.last_report = None                # api.PullReport of the last pull
        self._build()
        watch(self, context.project_changed, self._on_project_changed)
        self._on_project_changed(context.project)

    def _build(self) -> None:
        self.node_box = QComboBox()
        for name, node in sorted(self.dicom.pacs.items()):
            self.node_box.addItem(f"{name} ({node.ae_title}@{node.host}:{node.port}, "
                                  f"{'C-GET' if node.retrieve == 'get' else 'C-MOVE'})", name)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Family^Given, wildcards *  e.g. Doe^J*")
        self.patient_id = QLineEdit()
        self.patient_id.setPlaceholderText("any")
        self.date = QLineEdit("*")
        self.date.setToolTip("* any date; 20240315; 20240101-20240131 (open ends allowed); "
                             "2024* a year; 202403* a month")
        self.modality = QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(MODALITIES)
        self.modality.setMinimumWidth(80)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(lambda: self.search())
        for field in (self.name, self.patient_id, self.date):
            field.returnPressed.connect(lambda: self.search())
        self.reveal = QCheckBox("reveal names")
        self.reveal.setToolTip("show real patient names and IDs (needs the identity right on "
                               "the project: members and owners)")
        self.reveal.toggled.connect(lambda *_: self._render_identities())
        form = QFormLayout()
        form.addRow("PACS", self.node_box)
        form.addRow("Name", self.name)
        form.addRow("Patient ID", self.patient_id)
        row = QHBoxLayout()
        row.addWidget(self.date, 1)
        row.addWidget(QLabel("Modality"))
        row.addWidget(self.modality)
        form.addRow("Date", row)
        actions = QHBoxLayout()
        actions.addWidget(self.search_button)
        actions.addStretch(1)
        actions.addWidget(self.reveal)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(0, 220)
        self.tree.itemExpanded.connect(self._on_expanded)
        self.tree.itemChanged.connect(self._on_item_changed)

        self.pull_button = QPushButton("Pull selected")
        self.pull_button.clicked.connect(lambda: self.pull_selected())
        self.progress = QProgressBar()
        self.stage = QLabel("")
        self.tasks = Tasks(self.progress, parent=self, label=self.stage)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom = QHBoxLayout()
        bottom.addWidget(self.pull_button)
        bottom.addWidget(self.stage)
        bottom.addWidget(self.progress, 1)

        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addLayout(actions)
        box.addWidget(self.tree, 1)
        box.addLayout(bottom)
        box.addWidget(self.status)

    # -- state ------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.tasks.busy

    def node(self):
        name = self.node_box.currentData()
        if name is None:
            raise ValueError("no PACS node in nora.toml: add a [pacs.<name>] section with "
                             "ae_title, host, port and retrieve = \"move\" or \"get\"")
        return self.dicom.node(name)

    def _pseudonyms(self, patient_ids, project):
        from nora_server.dicom import api

        return api.display_pseudonyms(patient_ids, session=self.context.session,
                                      project=project, settings=self.context.settings)

    def _on_project_changed(self, project) -> None:
        allowed = project is not None and self.context.can("identity")
        self.reveal.setEnabled(allowed)
        if not allowed and self.reveal.isChecked():
            self.reveal.setChecked(False)
        writable = project is not None and self.context.can("write")
        self.pull_button.setEnabled(writable)
        self.pull_button.setText(f"Pull selected into {project}" if writable else
                                 "Pull selected (needs write access to a project)")
        if self.patients:   # the pseudonyms are the project's subjects
            self.tasks.run(self._pseudonyms, [p.patient_id for p in self.patients], project,
                           done=self._show_names, channel="names",
                           error=lambda e: log.warning("pseudonyms: %s", e))
        else:
            self._render_identities()

    def _show_names(self, names: dict) -> None:
        self.shown_names = names
        self._render_identities()

    # -- search -----------------------------------------------------------------------------
    def search(self):
        """C-FIND in a worker; fills the tree with patients and their studies."""
        from nora_server.dicom import api

        try:
            node = self.node()
            fields = dict(name=self.name.text().strip(),
                          patient_id=self.patient_id.text().strip(), date=self.date.text(),
                          modality=self.modality.currentText().strip().upper())
            api.study_date(fields["date"])  # a bad date is said now, not in the worker
        except (ValueError, KeyError) as exc:
            self._say(str(exc), error=True)
            return None
        self.search_button.setEnabled(False)
        self.stage.setText(STAGES["query"])
        return self.tasks.run(self._find, node, self.context.project, fields,
                              done=self._show_patients, error=self._search_failed,
                              channel="search")

    def _find(self, node, project, fields):
        """(worker) The patients -> studies tree and the pseudonyms to show."""
        from nora_server.dicom import api

        tree = api.query_tree(node, ae_title=self.dicom.ae_title, **fields)
        return tree, self._pseudonyms([p.patient_id for p in tree], project)

    def _show_patients(self, found) -> None:
        self.search_button.setEnabled(True)
        patients, self.shown_names = found
        self.patients = patients
        self._syncing = True
        self.tree.clear()
        items = []
        for p in patients:
            pitem = QTreeWidgetItem()
            pitem.setFlags(CHECKABLE)
            pitem.setCheckState(0, Qt.CheckState.Unchecked)
            pitem.setData(0, DATA, {"level": "PATIENT", "patient": p})
            pitem.setText(4, "/".join(dict.fromkeys(
                m for s in p.studies for m in _as_list(s.row.get("ModalitiesInStudy")))))
            pitem.setText(6, f"{len(p.studies)} stud{'y' if len(p.studies) == 1 else 'ies'}")
            for s in p.studies:
                pitem.addChild(self._study_item(s))
            items.append(pitem)
        self.tree.addTopLevelItems(items)
        self._syncing = False
        self._render_identities()
        n = sum(len(p.studies) for p in patients)
        self._say(f"{len(patients)} patient(s), {n} stud{'y' if n == 1 else 'ies'}")

    def _study_item(self, study) -> QTreeWidgetItem:
        s = study.row
        item = QTreeWidgetItem()
        item.setFlags(CHECKABLE)
        item.setCheckState(0, Qt.CheckState.Unchecked)
        item.setData(0, DATA, {"level": "STUDY", "study": study.uid, "loaded": False})
        item.setText(0, s.get("StudyDescription") or "(study)")
        item.setText(3, _date(s.get("StudyDate")))
        item.setText(4, "/".join(_as_list(s.get("ModalitiesInStudy"))))
        item.setText(5, s.get("AccessionNumber") or "")
        item.setText(6, f"{s.get('NumberOfStudyRelatedSeries') or '?'} / "
                        f"{s.get('NumberOfStudyRelatedInstances') or '?'}")
        item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        return item

    def _search_failed(self, exc) -> None:
        self.search_button.setEnabled(True)
        self._say(f"search failed: {exc}", error=True)

    # -- series (lazy) ------------------------------------------------------------------------
    def _on_expanded(self, item) -> None:
        data = item.data(0, DATA)
        if not data or data["level"] != "STUDY" or data["loaded"]:
            return
        data["loaded"] = True
        item.setData(0, DATA, data)
        self.load_series(item, data["study"])

    def load_series(self, item, study_uid: str):
        from nora_server.dicom import api

        return self.tasks.run(api.find_series, self.node(), study_uid,
                              ae_title=self.dicom.ae_title,
                              done=lambda rows: self._show_series(item, rows),
                              error=lambda e: self._show_series(item, e))

    def _show_series(self, item, rows) -> None:
        if deleted(item):  # a new search replaced the tree while the series were asked for
            return
        self._syncing = True
        try:
            if isinstance(rows, Exception):
                err = QTreeWidgetItem([f"series query failed: {rows}"])
                err.setForeground(0, QColor("#d9534f"))
                item.addChild(err)
                return
            state = item.checkState(0)
            for r in rows:
                child = QTreeWidgetItem()
                child.setFlags(CHECKABLE)
                child.setCheckState(0, Qt.CheckState.Checked if state == Qt.CheckState.Checked
                                    else Qt.CheckState.Unchecked)
                child.setData(0, DATA, {"level": "SERIES", "series": r})
                child.setText(0, f"{r.get('SeriesNumber') or '?'}  "
                                 f"{r.get('SeriesDescription') or '(series)'}")
                child.setText(3, _date(r.get("SeriesDate")))
                child.setText(4, r.get("Modality") or "")
                child.setText(6, str(r.get("NumberOfSeriesRelatedInstances") or ""))
                item.addChild(child)
            if not rows:
                item.setChildIndicatorPolicy(
                    QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicatorWhenChildless)
        finally:
            self._syncing = False

    # -- checking -------------------------------------------------------------------------
    def _on_item_changed(self, item, column: int) -> None:
        if self._syncing or column != 0:
            return
        data = item.data(0, DATA) or {}
        self._syncing = True
        try:
            state = item.checkState(0)
            if data.get("level") in ("PATIENT", "STUDY") and state != Qt.CheckState.PartiallyChecked:
                for k in range(item.childCount()):
                    child = item.child(k)
                    if child.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                        child.setCheckState(0, state)
                        for j in range(child.childCount()):
                            if child.child(j).flags() & Qt.ItemFlag.ItemIsUserCheckable:
                                child.child(j).setCheckState(0, state)
            parent = item.parent()
            while parent is not None:
                parent.setCheckState(0, _combined(parent))
                parent = parent.parent()
        finally:
            self._syncing = False

    def checked_items(self) -> list:
        """api.PullTarget of the checked studies (whole) and, in other studies, of their
        checked series."""
        from nora_server.dicom import api

        out = []
        for i in range(self.tree.topLevelItemCount()):
            patient = self.tree.topLevelItem(i)
            for k in range(patient.childCount()):
                study = patient.child(k)
                uid = study.data(0, DATA)["study"]
                if study.checkState(0) == Qt.CheckState.Checked:
                    out.append(api.PullTarget(uid))
                    continue
                series = []
                for j in range(study.childCount()):
                    d = study.child(j).data(0, DATA)
                    if d and study.child(j).checkState(0) == Qt.CheckState.Checked:
                        series.append(d["series"]["SeriesInstanceUID"])
                if series:
                    out.append(api.PullTarget(uid, tuple(series)))
        return out

    # -- pull -------------------------------------------------------------------------------
    def pull_selected(self):
        """Retrieve and import the checked studies/series in a worker (the API checks the
        write right again); with our node running, wait until it has imported a C-MOVE."""
        from nora_server.dicom import api

        items = self.checked_items()
        try:
            node = self.node()
            project = self.context.project
            if project is None or not self.context.can("write"):
                raise ValueError("choose a project you may write to before pulling")
            if not items:
                raise ValueError("check the studies or series to pull first")
        except (ValueError, KeyError) as exc:
            self._say(str(exc), error=True)
            return None
        self.pull_button.setEnabled(False)
        self.stage.setText(STAGES["retrieve"])
        self._say(f"pulling {len(items)} stud{'y' if len(items) == 1 else 'ies'} from "
                  f"{node.name} into {project}...")
        relay = self.tasks.relay()
        return self.tasks.run(api.pull, self.context.session, self.context.settings, node,
                              project, items, dicom=self.dicom,
                              workdir=api.workdir(self.context.storage),
                              wait_s=self.dicom.quiet_seconds + 120,
                              progress=lambda stage, done, total: relay(
                                  done, total, STAGES.get(stage, stage)),
                              done=self._pulled, error=self._pull_failed)

    def _pulled(self, report) -> None:
        self.last_report = report
        self._on_project_changed(self.context.project)
        self._say("\n".join(report.lines()), error=not report.ok)
        if report.refs or "imported" in report.node_imports.values():
            self.context.archive_changed.emit(report.project)

    def _pull_failed(self, exc) -> None:
        self._on_project_changed(self.context.project)
        self._say(f"pull failed: {exc}", error=True)

    # -- identities -------------------------------------------------------------------------
    def shows_identities(self) -> bool:
        return self.reveal.isChecked() and self.reveal.isEnabled()

    def _render_identities(self) -> None:
        show = self.shows_identities()
        self._syncing = True
        try:
            for i in range(self.tree.topLevelItemCount()):
                item = self.tree.topLevelItem(i)
                p = item.data(0, DATA)["patient"]
                if show:
                    texts = (p.name.replace("^", " ").strip() or "(no name)", p.patient_id,
                             _date(p.row.get("PatientBirthDate")))
                else:
                    texts = (self.shown_names.get(p.patient_id, HIDDEN), HIDDEN, HIDDEN)
                for col, text in enumerate(texts):
                    item.setText(col, text)
        finally:
            self._syncing = False

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d9534f" if error else "")


def _combined(item) -> Qt.CheckState:
    states = {item.child(k).checkState(0) for k in range(item.childCount())
              if item.child(k).flags() & Qt.ItemFlag.ItemIsUserCheckable}
    if not states:
        return item.checkState(0)
    if states == {Qt.CheckState.Checked}:
        return Qt.CheckState.Checked
    if states == {Qt.CheckState.Unchecked}:
        return Qt.CheckState.Unchecked
    return Qt.CheckState.PartiallyChecked


def _as_list(v) -> list[str]:
    if v in (None, ""):
        return []
    return [str(x) for x in v] if isinstance(v, list) else str(v).split("\\")


def _date(text) -> str:
    text = str(text or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text
