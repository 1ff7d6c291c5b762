"""The demo archive of ``napari-nora``'s first start: the embedded default (SQLite) filled
through the real import pipeline (pydicom -> dcm2niix -> archive); idempotent; the main command
opens the desktop on it."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from tests.desktop.conftest import wait_for


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    """A first start: no nora.toml yet; returns (config path, settings)."""
    from nora_server.demo import ensure_demo

    home = tmp_path_factory.mktemp("first-start")
    config = home / "config" / "nora.toml"
    assert not config.exists()
    settings = ensure_demo(config, root=home / "data", user="demo-admin")
    return config, settings


def session_of(settings):
    from nora_server.archive import Archive

    return Archive.from_settings(settings).session("demo-admin")


def test_first_start_creates_the_embedded_default_with_the_demo(demo_home):
    from nora_server.config import load_settings

    config, settings = demo_home
    assert load_settings(config).database.startswith("sqlite:///")
    assert settings.storage == (config.parent.parent / "data" / "storage").resolve()
    s = session_of(settings)
    rows = s.studies("demo")
    assert [(r.subject, r.patient_name, r.description) for r in rows] == [
        ("DEMO001", "Doe^Jane", "MRI head"), ("DEMO001", "Doe^Jane", "MRI head follow-up"),
        ("DEMO002", "Roe^Richard", "MRI head"), ("DEMO003", "Poe^Edgar", "MRI head"),
        ("DEMO004", "Moe^Anna", "MRI brain")]
    assert rows[0].study == "20210503091500" and rows[0].birth_date.isoformat() == "1970-03-14"
    assert s.tags("demo", "DEMO002") == ["patient"]
    assert s.documents("settings", project="demo") == ["autoload:QC"]


def test_demo_series_come_through_dcm2niix_at_their_scanner_position(demo_home):
    from nora_server.demo import sample_t1

    s = session_of(demo_home[1])
    t1 = s.select_files("demo", "t1*/s*.nii", ref="DEMO003#*")
    assert [f.path for f in t1] == ["t1_mprage_3/s003.nii"]
    assert [d for d in s.documents("metadata", project="demo", ref=t1[0].ref)
            if d.startswith("dicom-series:")]
    assert s.select_files("demo", "t1*/s*.json", ref="DEMO003#*")  # dcm2niix's sidecar
    img = nib.load(t1[0].location)
    vol, affine = sample_t1()
    ijk = np.indices(vol.shape).reshape(3, -1)
    world = affine[:3, :3] @ ijk + affine[:3, 3:]
    back = np.rint(np.linalg.solve(img.affine[:3, :3], world - img.affine[:3, 3:])).astype(int)
    moved = np.asarray(img.dataobj)[tuple(back)]
    assert np.corrcoef(moved, vol.reshape(-1))[0, 1] > 0.98  # same anatomy, same place


def test_a_second_run_adds_nothing(demo_home, capsys, monkeypatch):
    from nora_server.cli.noractl import main
    from nora_server.demo import build_demo

    config, settings = demo_home
    s = session_of(settings)
    n = len(s.select_files("demo", "*"))
    assert build_demo(s) is None
    monkeypatch.setenv("NORA_USER", "demo-admin")
    assert main(["demo", "--config", str(config)]) == 0
    assert "complete already" in capsys.readouterr().out
    assert len(s.select_files("demo", "*")) == n


def test_main_command_opens_the_desktop_on_the_demo(demo_home, monkeypatch, qtbot,
                                                    make_napari_viewer):
    from napari_nora.__main__ import build_viewer

    monkeypatch.setenv("NORA_CONFIG", str(demo_home[0]))
    monkeypatch.setenv("NORA_USER", "demo-admin")
    viewer = build_viewer(show=False)
    try:
        desktop = viewer.window.dock_widgets["NORA desktop"]
        assert desktop.context.project == "demo"
        wait_for(qtbot, desktop, lambda: len(viewer.layers) == 1)
        (layer,) = viewer.layers
        assert layer.metadata["nora_archive"]["ref"] == "DEMO001#20210503091500"
        assert layer.metadata["nora_archive"]["path"] == "t1_mprage_3/s003.nii"
        assert layer.metadata["nora_archive"]["config"] == str(demo_home[0])
        assert desktop.tools["Browser"].model.rowCount() == 5
        assert "Display settings" in viewer.window.dock_widgets
    finally:
        viewer.close()


@pytest.mark.parametrize("saved_size", [None, (1200, 900), (1440, 1206)],
                         ids=["first", "later", "saved-larger-than-the-screen"])
def test_a_start_gives_the_views_room_beside_the_docks(demo_home, monkeypatch, qtbot,
                                                       make_napari_viewer, saved_size):
    """napari's first window left the three views slivers between its docks and the desktop
    (60-70 px each): with no window size saved, the window takes 90% of the screen; on that
    start and every later one (napari restores the window's size, not its docks) the desktop
    gets a third of its width (a long tab scrolls, it does not widen the dock) and most of its
    column's height (it had 130 px on a later start); the window fits the screen (docks'
    minimum heights made it taller)."""
    from napari.settings import get_settings

    from napari_nora.__main__ import build_viewer

    monkeypatch.setenv("NORA_CONFIG", str(demo_home[0]))
    monkeypatch.setenv("NORA_USER", "demo-admin")
    app = get_settings().application  # a later start: napari restores the window's size
    for name, value in [("first_time", saved_size is None), ("window_size", saved_size),
                        ("window_position", saved_size and (0, 0))]:
        monkeypatch.setattr(app, name, value)
    viewer = build_viewer(show=True)
    try:
        desktop = viewer.window.dock_widgets["NORA desktop"]
        wait_for(qtbot, desktop, lambda: len(viewer.layers) == 1)
        qtbot.wait(200)
        window = viewer.window._qt_window
        screen = window.screen().availableGeometry()
        if saved_size is None:
            assert window.width() >= 0.88 * screen.width()
        assert window.frameGeometry().height() <= screen.height()
        assert desktop.width() <= window.width() // 3 + 20
        assert desktop.height() >= 0.5 * window.height()
        views = viewer._nora_workspace.views
        assert [v.kind for v in views] == ["axial", "coronal", "sagittal"]
        canvas = viewer._nora_workspace._container.width()
        assert canvas >= 0.33 * window.width()  # 0.15, then 0.24 before (1280 px screen)
        assert all(v.qt_viewer.width() >= 0.3 * canvas for v in views)
    finally:
        viewer.close()


def test_desktop_opens_from_the_plugin_menu(demo_home, monkeypatch, make_napari_viewer):
    monkeypatch.setenv("NORA_CONFIG", str(demo_home[0]))
    monkeypatch.setenv("NORA_USER", "demo-admin")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-nora", "NORA desktop")
    assert widget.context.project == "demo" and widget.context.viewer is viewer
    assert list(widget.tools) == ["Browser", "Autoloader", "Upload", "Batch", "Jobs", "PACS"]
    widget.wait()


def test_the_roi_tool_beside_the_desktop_keeps_the_window_on_the_screen(
        demo_home, monkeypatch, qtbot, make_napari_viewer):
    """The ROI tool docked under the desktop and the workspace made the window taller than the
    screen (its views' sliders and the status bar below the screen's edge); it scrolls now, up
    and down only. It opens as a tab beside the workspace with 60% of the column (it had 89 px,
    then squeezed the desktop's table to one row)."""
    from napari_nora.__main__ import build_viewer
    from napari_nora.widgets.qt_helpers import dock_of

    monkeypatch.setenv("NORA_CONFIG", str(demo_home[0]))
    monkeypatch.setenv("NORA_USER", "demo-admin")
    viewer = build_viewer(show=True)
    try:
        desktop = viewer.window.dock_widgets["NORA desktop"]
        wait_for(qtbot, desktop, lambda: len(viewer.layers) == 1)
        dock, tool = viewer.window.add_plugin_dock_widget("napari-nora", "ROI tool")
        qtbot.wait(300)
        window = viewer.window._qt_window
        assert window.frameGeometry().height() <= window.screen().availableGeometry().height()
        # a tab beside the workspace, never narrower than its form; the desktop keeps its rows
        workspace = dock_of(viewer.window.dock_widgets["Workspace"])
        assert dock in window.tabifiedDockWidgets(workspace)
        assert dock.height() >= 300
        assert dock_of(desktop).height() >= 0.3 * (dock.height() + dock_of(desktop).height())
        assert tool.width() >= tool._content.minimumSizeHint().width()
    finally:
        viewer.close()
