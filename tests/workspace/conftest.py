"""Fixtures for the workspace tests: a RAS phantom, and one napari window per test module with
the workspace and the ROI tool opened from the Plugins menu (as a user opens them), reset
before each test. Sharing the window keeps the GUI tests fast; each test still starts from the
same state (ortho layout, crosshair at the origin, radiological, phantom active, no ROI)."""

import contextlib
import gc
from types import SimpleNamespace
from unittest.mock import patch

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Labels

from tests.workspace.helpers import settle

#: the bright block spans +8..+15 mm on S, A and R (voxels 28..35 of a 40^3 grid at -20 mm)
MARKER_MM = (8.0, 15.0)


def write_phantom(path):
    """40 mm cube, 1 mm voxels, RAS affine, origin -20 mm: background 100, a bright (1000)
    8 mm block in the right-anterior-superior octant."""
    vol = np.full((40, 40, 40), 100, np.int16)
    vol[28:36, 28:36, 28:36] = 1000
    aff = np.eye(4)
    aff[:3, 3] = -20
    nib.save(nib.Nifti1Image(vol, aff), path)
    return path


@pytest.fixture(scope="module")
def ras_phantom(tmp_path_factory):
    return write_phantom(tmp_path_factory.mktemp("phantom") / "phantom.nii.gz")


@contextlib.contextmanager
def own_app_model(name: str):
    """A napari app model of its own for a window that outlives one test, as napari's
    ``make_napari_viewer`` gives each test: plugins register into it, not into the app that
    other tests' fixtures already registered them in (which napari refuses)."""
    from app_model import Application
    from napari._app_model._app import NapariApplication, _napari_names
    from napari._qt._qapp_model.qactions import init_qactions
    from napari.plugins import _initialize_plugins

    app = NapariApplication(name)
    app.injection_store.namespace = _napari_names
    _initialize_plugins.cache_clear()
    init_qactions.cache_clear()
    try:
        with patch.object(NapariApplication, "get_app_model", return_value=app):
            yield app
    finally:
        Application.destroy(name)
        _initialize_plugins.cache_clear()
        init_qactions.cache_clear()


@pytest.fixture(scope="module")
def _window(qapp, ras_phantom):
    with own_app_model("nora-workspace-tests"):
        yield from _open_window(ras_phantom)


def _open_window(ras_phantom):
    import napari

    viewer = napari.Viewer(show=True)
    (image,) = viewer.open(str(ras_phantom), plugin="napari-nora")
    _, workspace = viewer.window.add_plugin_dock_widget("napari-nora", "Workspace")
    roi_dock, roi_tool = viewer.window.add_plugin_dock_widget("napari-nora", "ROI tool")
    roi_dock.setFloating(True)  # open, beside the window: the views keep their width
    viewer.window._qt_window.resize(1250, 800)
    yield SimpleNamespace(viewer=viewer, widget=workspace, ctl=workspace.controller,
                          image=image, roi_tool=roi_tool)
    viewer.close()
    gc.collect()


@pytest.fixture
def ws(_window, qtbot):
    """The shared window, reset: ortho layout through the origin, radiological, phantom active
    with limits (0, 1000), drawing off with the brush, speed 1, no ROI layers."""
    w = _window
    viewer, ctl = w.viewer, w.ctl
    for layer in [ly for ly in viewer.layers if isinstance(ly, Labels)]:
        viewer.layers.remove(layer)
    viewer.layers.selection.active = w.image
    w.image.colormap = "gray"
    w.image.contrast_limits = (0, 1000)
    w.image.opacity, w.image.gamma, w.image.visible = 1.0, 1.0, True
    ctl.state.layout = "ortho"
    ctl.set_convention("radiological")
    ctl.state.scroll_speed = 1.0
    w.roi_tool.settings.drawing = False
    w.roi_tool.settings.pen = "brush"
    ctl.state.active_view = 0
    ctl.state.set_axes([0, 1, 2], [0.0, 0.0, 0.0])
    settle(qtbot)
    ctl.reset_views()
    settle(qtbot)
    return w
