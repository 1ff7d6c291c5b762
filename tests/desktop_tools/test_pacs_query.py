"""The PACS query tool against a real Orthanc: search by name (^ and *), date ranges and
modality, lazy series, masked identities with a reveal for the identity right, pull selected
(C-MOVE to our node, C-GET) into the project through the import pipeline, and a GUI that keeps
running during a large C-FIND and a pull."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from qtpy.QtCore import Qt

from napari_nora.widgets.pacs_query import PacsQueryWidget
from tests.desktop_tools.pacs_data import LOAD_PATIENTS

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _tool(qtbot, make_context, pacs, role="admin"):
    """The PACS query tool for a ``role`` in project demo: (context, widget)."""
    ctx = make_context(role, pacs)
    w = PacsQueryWidget(ctx)
    qtbot.addWidget(w)
    return ctx, w


def _search(idle, widget, *, name="", pid="", date="*", modality=""):
    widget.name.setText(name)
    widget.patient_id.setText(pid)
    widget.date.setText(date)
    widget.modality.setCurrentText(modality)
    widget.search()
    idle(widget)
    return widget


def _ids(widget):
    return sorted(p.patient_id for p in widget.patients)


def _pseudonym(ctx, pid):
    from nora_server.dicom import api

    return api.display_pseudonym(pid, session=ctx.session, project="demo",
                                 settings=ctx.settings)


@SQLITE
def test_search_by_name_with_caret_and_wildcard_masks_names(qtbot, idle, make_context, pacs):
    ctx, w = _tool(qtbot, make_context, pacs, "member")
    _search(idle, w, name="Doe^J*")
    assert _ids(w) == ["PID-DOE1", "PID-DOE2"]
    shown = {w.tree.topLevelItem(i).text(0) for i in range(w.tree.topLevelItemCount())}
    assert shown == {_pseudonym(ctx, "PID-DOE1"), _pseudonym(ctx, "PID-DOE2")}
    assert "Doe" not in " ".join(shown) and w.tree.topLevelItem(0).text(1) == "****"
    assert w.reveal.isEnabled()  # a member may see identities
    w.reveal.setChecked(True)
    shown = sorted(w.tree.topLevelItem(i).text(0) for i in range(w.tree.topLevelItemCount()))
    assert shown == ["Doe Jane", "Doe John"]
    assert w.tree.topLevelItem(0).text(1).startswith("PID-DOE")


@SQLITE
def test_reveal_needs_the_identity_right(qtbot, idle, make_context, pacs):
    ctx, w = _tool(qtbot, make_context, pacs, "reader")
    _search(idle, w, name="Smith^Anna")
    assert _ids(w) == ["PID-SMI1"]
    assert not w.reveal.isEnabled()
    w.reveal.setChecked(True)  # even if forced, nothing is revealed
    item = w.tree.topLevelItem(0)
    assert item.text(0) == _pseudonym(ctx, "PID-SMI1") and "Smith" not in item.text(0)
    assert item.text(1) == item.text(2) == "****"
    assert not w.pull_button.isEnabled()  # a reader may not import


@SQLITE
def test_the_api_refuses_a_readers_pull(qtbot, idle, make_context, pacs):
    from nora_server.archive.errors import PermissionDenied
    from nora_server.dicom import api

    ctx, w = _tool(qtbot, make_context, pacs, "reader")
    _search(idle, w, pid="PID-SMI1")
    w.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Checked)
    assert w.pull_selected() is None and "write" in w.status.text()
    with pytest.raises(PermissionDenied):  # the API refuses it, not only the button
        api.pull(ctx.session, ctx.settings, w.node(), "demo", w.checked_items())


@SQLITE
def test_search_by_date_range_year_and_modality(qtbot, idle, make_context, pacs):
    _, w = _tool(qtbot, make_context, pacs)
    assert _ids(_search(idle, w, date="20240301-20240331")) == ["PID-DOE1", "PID-SMI1"]
    assert _ids(_search(idle, w, date="2023*")) == ["PID-DOE2"]
    assert _ids(_search(idle, w, date="20240316-")) == ["PID-SMI1"]
    assert _ids(_search(idle, w, name="Doe*", modality="CT")) == ["PID-DOE2"]
    w.date.setText("2024-13*x")
    assert w.search() is None and "date" in w.status.text()


@SQLITE
def test_expanding_a_study_queries_its_series(qtbot, idle, make_context, pacs):
    _, w = _tool(qtbot, make_context, pacs)
    _search(idle, w, pid="PID-DOE1")
    study = w.tree.topLevelItem(0).child(0)
    assert study.childCount() == 0  # not asked yet
    study.setExpanded(True)
    idle(w)
    series = [study.child(k).text(0) for k in range(study.childCount())]
    assert series == ["1  T1 MPRAGE", "2  FLAIR"]
    assert study.child(0).text(6) == "6"


@SQLITE
def test_series_that_arrive_after_a_new_search_are_dropped(qtbot, idle, make_context, pacs):
    _, w = _tool(qtbot, make_context, pacs)
    _search(idle, w, pid="PID-DOE1")
    w.tree.topLevelItem(0).child(0).setExpanded(True)  # the series query starts
    w._show_patients((w.patients, w.shown_names))  # a new search's answer comes first
    idle(w)  # the series answer finds its study item deleted: no error, the new tree kept
    study = w.tree.topLevelItem(0).child(0)
    assert study.childCount() == 0 and w.tree.topLevelItemCount() == 1
    study.setExpanded(True)
    idle(w)
    assert study.childCount() == 2


def _check_series(idle, w, pid, series_index):
    _search(idle, w, pid=pid)
    study = w.tree.topLevelItem(0).child(0)
    study.setExpanded(True)
    idle(w)
    study.child(series_index).setCheckState(0, Qt.CheckState.Checked)
    return study


def test_pull_selected_series_by_move_into_the_project(qtbot, idle, make_context, pacs, ticks):
    ctx, w = _tool(qtbot, make_context, pacs, "member")
    w.node_box.setCurrentIndex(w.node_box.findData("orthanc"))  # C-MOVE
    study = _check_series(idle, w, "PID-DOE1", 1)
    assert study.checkState(0).name == "PartiallyChecked"
    (item,) = w.checked_items()
    assert len(item.series_uids) == 1 and item.study_uid == pacs.studies["PID-DOE1"]
    changed = []
    ctx.archive_changed.connect(changed.append)
    with ticks() as t:
        w.pull_selected()
        idle(w, timeout=120)
    assert w.last_report is not None, w.status.text()
    assert w.last_report.ok, w.status.text()
    assert w.last_report.completed == 4
    assert t.count >= 3, f"GUI froze: {t.count} ticks in {t.seconds:.2f} s"
    assert changed == ["demo"]
    (ref,) = w.last_report.refs
    files = ctx.session.select_files("demo", "*", ref=ref)
    assert {f.path.split("/")[0] for f in files} == {"FLAIR_2"}
    assert any(f.path.endswith((".nii", ".nii.gz")) for f in files)
    row = next(r for r in ctx.session.studies("demo") if r.ref == ref)
    assert row.modality == "MR" and str(row.study_date) == "2024-03-15"


@SQLITE
def test_pull_whole_study_by_get(qtbot, idle, make_context, pacs):
    ctx, w = _tool(qtbot, make_context, pacs)
    w.node_box.setCurrentIndex(w.node_box.findData("orthanc_get"))
    _search(idle, w, pid="PID-DOE2")
    w.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Checked)  # the patient: its studies
    assert [i.series_uids for i in w.checked_items()] == [()]
    w.pull_selected()
    idle(w, timeout=120)
    assert w.last_report.completed == 5 and w.last_report.ok, w.status.text()
    (ref,) = w.last_report.refs
    assert [f.path for f in ctx.session.select_files("demo", "*/*.nii*", ref=ref)]


@SQLITE
def test_large_query_keeps_the_gui_running(qtbot, idle, make_context, pacs, ticks):
    _, w = _tool(qtbot, make_context, pacs)
    w.name.setText("Load^*")
    with ticks() as t:
        w.search()
        idle(w)
    assert len(w.patients) == LOAD_PATIENTS
    assert w.tree.topLevelItemCount() == LOAD_PATIENTS
    assert t.count >= 3, f"GUI froze: {t.count} ticks in {t.seconds:.2f} s"


@SQLITE
def test_pull_by_move_through_the_running_dicom_node(qtbot, idle, make_context, pacs):
    """With our node running (noractl start dicom), the node receives and imports the study
    (into the project named by the pull hint); the tool waits until it has."""
    from nora_server.dicom import service

    ctx = make_context("member", pacs)
    config = str(ctx.settings.path)
    service.start(config)
    try:
        w = PacsQueryWidget(ctx)
        qtbot.addWidget(w)
        w.node_box.setCurrentIndex(w.node_box.findData("orthanc"))
        study = _check_series(idle, w, "PID-SMI1", 0)
        assert study.checkState(0).name == "Checked"  # its only series: the whole study
        w.pull_selected()
        idle(w, timeout=120)
        assert "the DICOM node imported 1 study into demo" in w.status.text(), w.status.text()
    finally:
        service.stop(config)
    (row,) = [r for r in ctx.session.studies("demo") if r.description == "MRI spine"]
    assert {f.path.split("/")[0] for f in ctx.session.select_files("demo", "*", ref=row.ref)} \
        == {"T2_sag_1"}


@SQLITE
def test_the_tab_imports_no_dicom_network_code_until_it_is_used(site):
    """Building the tab (as the desktop does at start) leaves pynetdicom unimported: a fresh
    interpreter builds it on a site with PACS nodes and lists the modules."""
    code = (
        "import sys\n"
        "from qtpy.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from napari_nora.widgets.desktop_context import DesktopContext\n"
        "from napari_nora.widgets.pacs_query import PacsQueryWidget\n"
        f"ctx = DesktopContext.connect({str(site(pacs_port=4242))!r}, 'admin')\n"
        "ctx.project = 'demo'\n"
        "w = PacsQueryWidget(ctx)\n"
        "assert w.node_box.count() == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pynetdicom'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                         cwd=Path(__file__).parents[2], timeout=120)  # this checkout's code
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
