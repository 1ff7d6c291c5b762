"""How a user reaches the workspace (the ``napari-nora`` command, the Plugins menu), and what
the extra views cost: no copy of the image data, nothing left behind when the window closes
(napari's viewer fixture fails a test that leaks a canvas)."""

import gc
import tracemalloc

import numpy as np

from tests.workspace.helpers import settle


def test_napari_nora_command_opens_the_ortho_workspace(make_napari_viewer, ras_phantom, qtbot):
    from napari_nora.__main__ import build_viewer

    viewer = build_viewer([str(ras_phantom)], show=True)
    try:
        settle(qtbot)
        assert "Workspace" in viewer.window.dock_widgets
        ctl = viewer._nora_workspace
        assert ctl.state.layout == "ortho"
        assert [v.kind for v in ctl.views] == ["axial", "coronal", "sagittal"]
        assert all(v.qt_viewer.isVisible() for v in ctl.views)
    finally:
        viewer.close()


def test_plugin_menu_opens_the_workspace_once_per_viewer(make_napari_viewer, qtbot):
    from npe2 import PluginManager

    contribution = {w.display_name for w in PluginManager.instance().get_manifest(
        "napari-nora").contributions.widgets}
    assert "Workspace" in contribution
    viewer = make_napari_viewer(show=True)
    _, first = viewer.window.add_plugin_dock_widget("napari-nora", "Workspace")
    first.controller.state.layout = "2x2"
    settle(qtbot)
    assert len(first.controller.views) == 4
    # the controller is the viewer's: a script or another dock gets the same one
    from napari_nora.widgets.workspace_views import workspace_for

    assert workspace_for(viewer) is first.controller


def test_extra_views_copy_no_image_data(make_napari_viewer, qtbot):
    """Opening the ortho layout allocates nothing near the volume's size: each canvas costs a
    fixed amount (fonts, shaders, slices); the volume is shared."""
    from napari_nora.readers.layers import volume_layer
    from napari_nora.widgets.workspace_views import workspace_for

    viewer = make_napari_viewer(show=True)
    vol = np.random.default_rng(0).integers(0, 1000, (96, 256, 256)).astype(np.int16)  # 12.6 MB
    data, kwargs, _ = volume_layer(vol, np.eye(4), name="big")
    layer = viewer.add_image(data, **kwargs)
    ctl = workspace_for(viewer)
    settle(qtbot)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    ctl.state.layout = "ortho"
    settle(qtbot)
    ctl.state.set_axes([0, 1, 2], [30.0, 70.0, 90.0])
    settle(qtbot)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert all(m.data is layer.data for v in ctl.views[1:] for m in v.mirrors_of(layer))
    biggest = max(st.size_diff for st in after.compare_to(before, "lineno"))
    assert biggest < 0.25 * vol.nbytes, (biggest, vol.nbytes)


def test_main_view_shows_files_and_plain_layers_opened_after_the_workspace(make_napari_viewer,
                                                                           tmp_path, qtbot):
    """napari 0.9 empties a layer's slice when its units change after it joined the viewer:
    readers give mm at creation, and a plain layer the workspace adopts is re-sliced."""
    import nibabel as nib

    viewer = make_napari_viewer(show=True)
    viewer.window.add_plugin_dock_widget("napari-nora", "Workspace")
    vol = np.arange(20 * 24 * 16, dtype=np.int16).reshape(20, 24, 16) + 1
    nib.save(nib.Nifti1Image(vol, np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "aniso.nii.gz")
    (image,) = viewer.open(str(tmp_path / "aniso.nii.gz"), plugin="napari-nora")
    plain = viewer.add_image(np.ones((10, 12, 14), np.float32), scale=(3, 2, 2))
    settle(qtbot)
    assert [str(u) for u in image.units] == ["millimeter"] * 3
    assert [str(u) for u in plain.units] == ["millimeter"] * 3
    for layer in (image, plain):
        view = np.asarray(layer._slice.image.view)
        assert view.shape[0] > 1 and view.shape[1] > 1 and view.max() > 0, layer.name
