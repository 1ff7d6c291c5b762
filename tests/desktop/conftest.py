"""Desktop fixtures: the archive's demo project (SQLite and MariaDB, from tests/server) with real
NIfTI volumes in its studies, and a napari viewer with the NORA desktop dock on it."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from tests.server.conftest import admin, archive, backend, demo, engine  # noqa: F401

#: a bright marker voxel per study: where the autoloader and the opener must put it in the world
MARKERS = {"P001#S1": (5, 6, 7), "P001#S2": (9, 4, 3), "P002#S1": (2, 10, 5),
           "P003#S1": (11, 2, 8)}


def affine_of(ref: str) -> np.ndarray:
    """A different axis-aligned, flipped, non-isotropic grid per study (vox2ras)."""
    k = sorted(MARKERS).index(ref)
    aff = np.diag([-1.5, 1.0 + 0.25 * k, 2.0, 1.0])
    aff[:3, 3] = (40.0 - k, -20.0 + 3 * k, -10.0)
    return aff


def marker_volume(ref: str) -> np.ndarray:
    vol = np.full((14, 12, 10), 10, np.int16)
    vol[MARKERS[ref]] = 1000 + 100 * sorted(MARKERS).index(ref)
    return vol


@pytest.fixture
def volumes(demo, tmp_path):  # noqa: F811 - the imported fixture
    """Every demo study gets ``vol/v.nii.gz`` (its marker volume) and ``seg/mask.nii.gz``
    (the marker voxel ON). Returns the archive."""
    from nora_server.archive import AddItem

    session = demo.session("admin")
    items = []
    for ref in MARKERS:
        vol, aff = marker_volume(ref), affine_of(ref)
        base = tmp_path / "vols" / ref.replace("#", "_")
        base.mkdir(parents=True)
        nib.save(nib.Nifti1Image(vol, aff), base / "v.nii.gz")
        mask = (vol > 100).astype(np.uint8)
        nib.save(nib.Nifti1Image(mask, aff), base / "mask.nii.gz")
        items += [AddItem(base / "v.nii.gz", ref, "vol/v.nii.gz"),
                  AddItem(base / "mask.nii.gz", ref, "seg/mask.nii.gz")]
    session.add_files("demo", items)
    return demo


@pytest.fixture
def context_of(demo):  # noqa: F811
    """``context_of(user, viewer=None)``: a DesktopContext for ``user`` on the demo archive."""
    from napari_nora.widgets.desktop_context import DesktopContext

    def make(user="owner", viewer=None):
        return DesktopContext(demo.session(user), None, viewer=viewer)

    return make


@pytest.fixture
def make_desktop(make_napari_viewer, context_of, qtbot):
    """``make_desktop(user="owner", show=False) -> (viewer, DesktopWidget)`` with the demo
    project selected and its table loaded; every worker finished at teardown."""
    made = []

    def make(user="owner", *, show=False, project="demo"):
        from napari_nora.widgets.desktop import DesktopWidget

        viewer = make_napari_viewer(show=show)
        desktop = DesktopWidget(viewer, context=context_of(user, viewer), project=project)
        viewer.window.add_dock_widget(desktop, name="NORA desktop", area="left")
        desktop.wait()
        made.append(desktop)
        return viewer, desktop

    yield make
    from qtpy.QtCore import QCoreApplication, QEvent

    for desktop in made:
        desktop.wait()
        ctl = getattr(desktop.context.viewer, "_nora_workspace", None)
        if ctl is not None:  # close the workspace's extra canvases before the viewer
            ctl.state.layout = "single"
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    import gc

    gc.collect()


def wait_for(qtbot, desktop, condition, timeout=15_000):
    """Let workers finish and events run until ``condition()`` holds."""
    def ok():
        desktop.wait()
        assert condition()

    qtbot.waitUntil(ok, timeout=timeout)
