"""The Autoloader tab: saved pattern lists, the view they make, up/down through the filtered
table with the next study preloaded, QC tags."""

from __future__ import annotations

import numpy as np

from tests.desktop.conftest import MARKERS, affine_of, wait_for
from napari_nora.widgets import desktop_autoload
from nora_server.desktop import autoload
from nora_server.desktop.table import COLUMNS

PATTERNS = [autoload.AutoPattern("vol/v.nii*", "background"),
            autoload.AutoPattern("seg/*", "roi")]
SPEC = autoload.AutoloadList(PATTERNS, "single")  # one canvas: lighter tests


def started(make_desktop, qtbot, ref="P001#S1", *, user="owner", spec=SPEC):
    viewer, desktop = make_desktop(user)
    a = desktop.tools["Autoloader"]
    a.set_spec(spec)
    desktop.context.selection = [ref]
    a.start()
    wait_for(qtbot, desktop, lambda: shown(viewer) == ref)
    return viewer, desktop, a


def shown(viewer) -> str | None:
    refs = {ly.metadata.get("nora_archive", {}).get("ref") for ly in viewer.layers}
    return refs.pop() if len(refs) == 1 else None


def assert_marker_of(viewer, ref):
    image = viewer.layers[0]
    idx = np.unravel_index(np.argmax(image.data), image.data.shape)
    ras = (affine_of(ref) @ np.r_[MARKERS[ref], 1.0])[:3]
    np.testing.assert_allclose(image.data_to_world(idx), ras[::-1], atol=1e-6)


def test_pattern_list_is_saved_in_the_project(make_desktop, qtbot, demo):
    _, desktop = make_desktop("member")
    a = desktop.tools["Autoloader"]
    a.set_spec(SPEC)
    a.layout_box.setCurrentText("ortho3d")
    a.names.setEditText("QC t1")
    a.save_list()
    desktop.wait()
    session = demo.session("reader")
    assert autoload.list_names(session, "demo") == ["QC t1"]
    assert autoload.load_list(session, "demo", "QC t1") == autoload.AutoloadList(
        PATTERNS, "ortho3d")
    _, other = make_desktop("reader")  # a new desktop loads the project's first list
    b = other.tools["Autoloader"]
    assert b.spec() == autoload.AutoloadList(PATTERNS, "ortho3d")
    b.names.setEditText("mine")
    b.save_list()  # readers may not store lists: said, nothing stored
    other.wait()
    assert "may not write" in b.status.text()
    assert autoload.list_names(session, "demo") == ["QC t1"]


def test_start_opens_each_pattern_with_its_role_and_a_fitting_layout(make_desktop, volumes,
                                                                      qtbot):
    from napari_nora.widgets.workspace_views import workspace_for

    viewer, desktop, a = started(make_desktop, qtbot, spec=autoload.AutoloadList(PATTERNS))
    image, roi = viewer.layers
    assert type(image).__name__ == "Image" and image.colormap.name == "gray"
    assert type(roi).__name__ == "Labels" and roi.metadata["nora_roi"] is True
    assert roi.metadata["nora_archive"] == {"project": "demo", "ref": "P001#S1",
                                            "path": "seg/mask.nii.gz", "config": None,
                                            "user": "owner"}
    assert_marker_of(viewer, "P001#S1")
    assert workspace_for(viewer).state.layout == "ortho"  # volumes: three orthogonal views
    assert "P001#S1: 2 file(s)" in a.status.text()


def test_up_down_follow_the_filtered_table(make_desktop, volumes, qtbot):
    from napari_nora.widgets.workspace_views import workspace_for

    viewer, desktop, a = started(make_desktop, qtbot)
    b = desktop.tools["Browser"]
    b.header.editors["tags"].setText("control")  # P001#S1 and P003#S1
    wait_for(qtbot, desktop, lambda: b.model.rowCount() == 2)
    hooks = workspace_for(viewer).hooks
    hooks.subject_step.emit(+1)  # arrow down
    wait_for(qtbot, desktop, lambda: shown(viewer) == "P003#S1")
    assert_marker_of(viewer, "P003#S1")
    assert desktop.context.selection == ["P003#S1"]
    assert [i.row() for i in b.view.selectionModel().selectedRows()] == [1]
    hooks.subject_step.emit(+1)
    desktop.wait()
    assert shown(viewer) == "P003#S1" and "last study" in a.status.text()
    hooks.subject_step.emit(-1)  # arrow up
    wait_for(qtbot, desktop, lambda: shown(viewer) == "P001#S1")
    assert_marker_of(viewer, "P001#S1")


def test_next_study_is_preloaded_and_swapped_in(make_desktop, volumes, qtbot, monkeypatch):
    viewer, desktop, a = started(make_desktop, qtbot)
    wait_for(qtbot, desktop, lambda: "P001#S2" in a.cache)  # read while P001#S1 is shown
    layers = list(viewer.layers)
    calls = []
    real = desktop_autoload.load_study
    monkeypatch.setattr(desktop_autoload, "load_study",
                        lambda s, p, ref, spec: calls.append(ref) or real(s, p, ref, spec))
    a.step(+1)
    assert shown(viewer) == "P001#S2"  # at once: no worker, no event loop turn needed
    assert list(viewer.layers) == layers  # the same layers, new arrays
    assert_marker_of(viewer, "P001#S2")
    assert viewer.layers[1].metadata["nora_archive"]["ref"] == "P001#S2"
    wait_for(qtbot, desktop, lambda: "P002#S1" in a.cache)
    assert calls == ["P002#S1"]  # only the next one was read, in the background
    a.preload.setChecked(False)
    a.step(+1)
    assert shown(viewer) == "P002#S1"
    a.step(+1)  # without preloading: read on demand
    assert shown(viewer) == "P002#S1"
    wait_for(qtbot, desktop, lambda: shown(viewer) == "P003#S1")
    assert calls == ["P002#S1", "P003#S1"]


def test_missing_files_are_reported(make_desktop, volumes, qtbot):
    viewer, desktop = make_desktop()
    a = desktop.tools["Autoloader"]
    a.set_spec(autoload.AutoloadList([autoload.AutoPattern("vol/v.nii*", "background"),
                                      autoload.AutoPattern("flair*/s*.nii", "overlay")],
                                     "single"))
    desktop.context.selection = ["P003#S1"]
    a.start()
    wait_for(qtbot, desktop, lambda: shown(viewer) == "P003#S1")
    assert len(viewer.layers) == 1
    assert "no file for flair*/s*.nii" in a.status.text()


def test_qc_buttons_tag_the_study_and_the_table_shows_it(make_desktop, volumes, qtbot, demo):
    viewer, desktop, a = started(make_desktop, qtbot, "P002#S1")
    b = desktop.tools["Browser"]

    def tags():
        pos = b.model.position_of("P002#S1")
        return b.model.data(b.model.index(pos, COLUMNS.index("tags")))

    a.set_qc(verdict="pass")
    wait_for(qtbot, desktop, lambda: "QC:pass" in tags())
    a.set_qc(verdict="fail")
    a.set_qc(rating=4)
    a.set_qc(rating=2)
    wait_for(qtbot, desktop, lambda: "QC:rating=2" in tags())
    assert set(demo.session("admin").tags("demo", "P002#S1")) == {"patient", "QC:fail",
                                                                  "QC:rating=2"}
    assert a.qc_label.text() == "QC: QC:fail, QC:rating=2"
    b.header.editors["tags"].setText("QC:fail")
    wait_for(qtbot, desktop, lambda: b.model.visible_refs() == ["P002#S1"])
