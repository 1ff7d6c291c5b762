"""Fixtures for the workspace tests: a RAS phantom and a viewer with the workspace dock."""

import nibabel as nib
import numpy as np
import pytest


@pytest.fixture
def ras_phantom(tmp_path):
    """40 mm cube, 1 mm voxels, RAS affine, origin -20 mm: a bright 8 mm block in the
    right-anterior-superior octant (voxels 28..35 = +8..+15 mm on every axis)."""
    vol = np.full((40, 40, 40), 100, np.int16)
    vol[28:36, 28:36, 28:36] = 1000
    aff = np.eye(4)
    aff[:3, 3] = -20
    p = tmp_path / "phantom.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), p)
    return p


@pytest.fixture
def workspace(make_napari_viewer, ras_phantom, qtbot):
    """(viewer, WorkspaceWidget, phantom layer), window 1200x700, shown."""
    from napari_nora.widgets.workspace import WorkspaceWidget

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 700)
    (layer,) = viewer.open(str(ras_phantom), plugin="napari-nora")
    layer.contrast_limits = (0, 1000)
    widget = WorkspaceWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Workspace")
    yield viewer, widget, layer
    widget.controller.state.layout = "single"  # close the extra canvases before the viewer
    from qtpy.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    import gc

    gc.collect()
