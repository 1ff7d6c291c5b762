"""The Browser tab on a real archive (SQLite and MariaDB): projects, table, filters, sorting,
tags, job markers, file tree, opening and dropping files into the viewer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import QMimeData, QPoint, QPointF, Qt
from qtpy.QtGui import QDropEvent

from tests.desktop.conftest import MARKERS, affine_of, wait_for
from napari_nora.widgets.desktop_table import FILE_MIME, STUDY_MIME
from nora_server.desktop.table import COLUMNS


def rows(browser) -> list[str]:
    return browser.model.visible_refs()


def cell(browser, ref: str, key: str):
    pos = browser.model.position_of(ref)
    return browser.model.data(browser.model.index(pos, COLUMNS.index(key)))


def test_project_selector_shows_only_visible_projects(make_desktop, demo):
    demo.session("admin").create_project("secret")
    _, desktop = make_desktop("owner")
    names = [desktop.projects.itemText(i) for i in range(desktop.projects.count())]
    assert names == ["demo"]
    _, admin_desktop = make_desktop("admin")
    names = [admin_desktop.projects.itemText(i) for i in range(admin_desktop.projects.count())]
    assert names == ["demo", "secret"]
    _, outsider = make_desktop("outsider", project=None)
    assert outsider.projects.count() == 0 and outsider.context.project is None


def test_table_rows_columns_and_tags(make_desktop):
    _, desktop = make_desktop("member")
    b = desktop.tools["Browser"]
    assert rows(b) == ["P001#S1", "P001#S2", "P002#S1", "P003#S1"]
    assert b.status.text() == "4 of 4 studies"
    assert cell(b, "P002#S1", "name") == "Bob^Jones"
    assert cell(b, "P002#S1", "patient_id") == "PIZ200"
    assert cell(b, "P002#S1", "birth") == "1980-05-06"
    assert cell(b, "P002#S1", "date") == "2020-06-01"
    assert cell(b, "P002#S1", "desc") == "CT head"
    assert cell(b, "P002#S1", "modality") == "CT"
    assert cell(b, "P002#S1", "tags") == "patient, vip (subject)"
    assert cell(b, "P003#S1", "tags") == "control, young"
    assert not any(b.view.isColumnHidden(c) for c in range(len(COLUMNS)))


def test_identity_columns_hidden_and_empty_for_readers(make_desktop, qtbot):
    _, desktop = make_desktop("reader")
    b = desktop.tools["Browser"]
    for key in ("patient_id", "name", "birth", "sex"):
        assert b.view.isColumnHidden(COLUMNS.index(key))
        assert cell(b, "P001#S1", key) == ""  # never sent to a reader's table at all
    b.header.editors["name"].setText("Alice")
    wait_for(qtbot, desktop, lambda: "member or owner" in b.status.text())
    assert len(rows(b)) == 4  # the table keeps its rows
    assert "member or owner" in b.header.editors["name"].toolTip()


@pytest.mark.parametrize("key,text,expected", [
    ("desc", "CT", ["P002#S1"]),
    ("name", "A B", ["P001#S1", "P001#S2", "P002#S1"]),
    ("files", "t1_trio*/s0*.nii & STAG:control", ["P001#S1"]),
    ("tags", "control", ["P001#S1", "P003#S1"]),
    ("tags", "PTAG:vip", ["P002#S1"]),
    ("subject", "PIZ", ["P001#S1", "P001#S2", "P002#S1"]),
    ("date", "2020", ["P001#S1", "P002#S1"]),
])
def test_filter_bars(make_desktop, qtbot, key, text, expected):
    _, desktop = make_desktop("owner")
    b = desktop.tools["Browser"]
    if key == "files":
        b.file_search.setText(text)
    else:
        b.header.editors[key].setText(text)
    wait_for(qtbot, desktop, lambda: rows(b) == expected)
    assert b.status.text() == f"{len(expected)} of 4 studies"
    (b.file_search if key == "files" else b.header.editors[key]).clear()
    wait_for(qtbot, desktop, lambda: len(rows(b)) == 4)


def test_bad_filter_is_shown_at_its_bar(make_desktop, qtbot):
    _, desktop = make_desktop()
    b = desktop.tools["Browser"]
    b.header.editors["desc"].setText("MRI &")
    desktop.wait()
    assert "ends with '&'" in b.status.text()
    assert "background" in b.header.editors["desc"].styleSheet()
    assert len(rows(b)) == 4


def test_sorting(make_desktop):
    _, desktop = make_desktop()
    b = desktop.tools["Browser"]
    b.view.sortByColumn(COLUMNS.index("date"), Qt.SortOrder.DescendingOrder)
    assert rows(b) == ["P003#S1", "P001#S2", "P002#S1", "P001#S1"]
    b.view.sortByColumn(COLUMNS.index("desc"), Qt.SortOrder.AscendingOrder)
    assert rows(b)[0] == "P002#S1"  # "CT head" before "MRI ..."


def test_tags_from_the_context_menu(make_desktop, qtbot, demo):
    _, desktop = make_desktop()
    b = desktop.tools["Browser"]
    b.context.selection = ["P003#S1", "P001#S2"]
    b.edit_tags("study", remove=False, tags="reviewed")
    wait_for(qtbot, desktop, lambda: "reviewed" in cell(b, "P001#S2", "tags"))
    assert demo.session("admin").tags("demo", "P003#S1") == ["control", "reviewed", "young"]
    b.edit_tags("subject", remove=False, tags="twin")
    wait_for(qtbot, desktop, lambda: "twin (subject)" in cell(b, "P001#S1", "tags"))
    b.edit_tags("study", remove=True, tags="reviewed")
    wait_for(qtbot, desktop, lambda: "reviewed" not in cell(b, "P003#S1", "tags"))
    b.ask_tags = lambda title, choices: choices[0]  # the dialog offers the tags present
    b.context.selection = ["P003#S1"]
    b.edit_tags("study", remove=True)
    wait_for(qtbot, desktop, lambda: cell(b, "P003#S1", "tags").startswith("young"))


def test_job_markers_follow_the_job_table(make_desktop, qtbot, demo):
    from sqlalchemy import insert, select

    from nora_server.archive.models import Study, Subject
    from nora_server.batch.tables import BatchLaunch, GridJob

    _, desktop = make_desktop()
    b = desktop.tools["Browser"]
    assert cell(b, "P002#S1", "job") == ""
    with demo.engine.begin() as conn:
        study, subject = conn.execute(select(Study.id, Subject.id).join(Subject).where(
            Subject.pseudonym == "P002")).one()
        conn.execute(insert(BatchLaunch), [{"id": "L1", "project": "demo", "batch": {},
                                            "scheduler": "local", "resources": {},
                                            "folder": "/tmp"}])
        conn.execute(insert(GridJob), [
            {"launch_id": "L1", "task_index": 0, "project": "demo", "subject": "P002",
             "study": "S1", "subject_id": subject, "study_id": study, "state": "error",
             "scheduler": "local"}])
    b.context.jobs_changed.emit("demo")
    wait_for(qtbot, desktop, lambda: cell(b, "P002#S1", "job") == "e")
    b.header.editors["job"].setText("e")
    wait_for(qtbot, desktop, lambda: rows(b) == ["P002#S1"])


def test_file_tree_of_the_selected_study(make_desktop, qtbot):
    _, desktop = make_desktop()
    b = desktop.tools["Browser"]
    b.context.selection = ["P001#S1"]
    wait_for(qtbot, desktop, lambda: b.files.ref == "P001#S1")
    tops = [b.files.topLevelItem(i).text(0) for i in range(b.files.topLevelItemCount())]
    assert tops == ["dwi/", "META/", "t1_trio_mprage/"]
    item = b.files.item_for("t1_trio_mprage/s001.nii")
    assert item.text(2) == "good"
    assert b.view.selectionModel().selectedRows()[0].row() == 0  # the table follows


def test_double_click_opens_with_origin_and_world_geometry(make_desktop, volumes, qtbot):
    viewer, desktop = make_desktop()
    b = desktop.tools["Browser"]
    for n, ref in enumerate(("P002#S1", "P003#S1")):
        b.context.selection = [ref]
        wait_for(qtbot, desktop, lambda r=ref: b.files.ref == r)
        item = b.files.item_for("vol/v.nii.gz")
        b.files.itemDoubleClicked.emit(item, 0)
        wait_for(qtbot, desktop, lambda n=n: len(viewer.layers) == n + 1)
    bg, over = viewer.layers
    assert bg.colormap.name == "gray" and over.colormap.name != "gray"  # then an overlay
    assert over.metadata["nora_archive"] == {
        "project": "demo", "ref": "P003#S1", "path": "vol/v.nii.gz", "config": None,
        "user": "owner"}
    for layer, ref in ((bg, "P002#S1"), (over, "P003#S1")):
        idx = np.unravel_index(np.argmax(layer.data), layer.data.shape)
        ras = (affine_of(ref) @ np.r_[MARKERS[ref], 1.0])[:3]
        np.testing.assert_allclose(layer.data_to_world(idx), ras[::-1], atol=1e-6)  # (S, A, R)


def drop(drops, widget, mime):
    """Drag ``mime`` over ``widget`` and drop it. Qt delivers synthetic drag events only during
    a real drag, so they go to the canvas's event filter the way Qt would hand them over."""
    from qtpy.QtGui import QDragEnterEvent

    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert drops.eventFilter(widget, enter) and enter.isAccepted()
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert drops.eventFilter(widget, event)
    return event


def test_drop_on_canvas_as_roi_and_study_rows_with_pattern(make_desktop, volumes, qtbot):
    viewer, desktop = make_desktop()
    b = desktop.tools["Browser"]
    roles = iter(["background", "roi"])
    b.drops.choose = lambda pos: next(roles)
    location = str(volumes.storage / "demo" / "P001" / "S1" / "seg" / "mask.nii.gz")
    # a study row plus the file search's pattern: the study's matching image
    b.file_search.setText("vol/v*")
    desktop.wait()
    mime = QMimeData()
    mime.setData(STUDY_MIME, json.dumps({"project": "demo", "refs": ["P001#S1"]}).encode())
    drop(b.drops, viewer.window._qt_viewer, mime)
    wait_for(qtbot, desktop, lambda: len(viewer.layers) == 1)
    mime = QMimeData()
    mime.setData(FILE_MIME, json.dumps({"project": "demo", "files": [
        {"ref": "P001#S1", "path": "seg/mask.nii.gz", "location": location}]}).encode())
    drop(b.drops, viewer.window._qt_viewer, mime)
    wait_for(qtbot, desktop, lambda: len(viewer.layers) == 2)
    plain = QMimeData()
    plain.setText("not ours")
    from qtpy.QtGui import QDragEnterEvent

    other = QDragEnterEvent(QPoint(1, 1), Qt.DropAction.CopyAction, plain,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    assert not b.drops.eventFilter(viewer.window._qt_viewer, other)  # napari's own drops
    image, roi = viewer.layers
    assert image.metadata["nora_archive"]["path"] == "vol/v.nii.gz"
    assert type(roi).__name__ == "Labels" and roi.metadata["nora_roi"] is True
    assert roi.metadata["nora_archive"]["path"] == "seg/mask.nii.gz"
    assert roi.data.dtype == np.uint8 and int(roi.data.sum()) == 1
    np.testing.assert_allclose(roi.data_to_world(np.argwhere(roi.data)[0]),
                               image.data_to_world(np.argwhere(image.data > 100)[0]))


def test_a_wrong_dicom_section_leaves_the_rest_of_the_desktop_working(make_napari_viewer, demo):
    """``[dicom] port = "abc"`` in nora.toml: the PACS tab says so, the other tabs work (the
    whole desktop failed to open)."""
    from nora_server.config import Settings
    from napari_nora.widgets.desktop import DesktopWidget
    from napari_nora.widgets.desktop_context import DesktopContext

    settings = Settings("sqlite://", demo.storage, sections={"dicom": {"port": "abc"}})
    viewer = make_napari_viewer()
    desktop = DesktopWidget(viewer, context=DesktopContext(demo.session("owner"), settings,
                                                           viewer=viewer), project="demo")
    try:
        desktop.wait()
        assert "PACS" not in desktop.tools and desktop.tools["Browser"].model.rowCount() > 0
        pacs = desktop.tabs.widget([desktop.tabs.tabText(i) for i in
                                    range(desktop.tabs.count())].index("PACS")).widget()
        assert pacs.text() == ("PACS is not available: [dicom] port = 'abc' in nora.toml is not "
                               "an integer")
    finally:
        desktop.wait()
