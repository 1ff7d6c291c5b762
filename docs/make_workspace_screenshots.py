"""Screenshots of the workspace for docs/workspace.md; run under a display:
``xvfb-run -a python docs/make_workspace_screenshots.py``.

Writes docs/images/workspace-<layout>.png for every layout (the ``napari-nora`` window with
Colin27, the 1 mm T1 brain of the test data in ``$NORA_TESTDATA/mricron``, else the sample brain
MR; crosshair through the left basal ganglia) and workspace-phantom-<convention>.png (the views
of a phantom with a bright block in the patient's right-anterior-superior octant, in the
radiological and the neurological convention). Each view is checked before it is saved: not
blank, and for the phantom the block where the convention puts it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_nora.__main__ import build_viewer
from napari_nora.workspace.layouts import LAYOUTS

OUT = Path(__file__).parent / "images"


def settle(rounds: int = 10) -> None:
    import time

    for _ in range(rounds):
        QApplication.processEvents()
        time.sleep(0.03)


def view_shot(view) -> np.ndarray:
    if hasattr(view.model, "window"):
        return np.asarray(view.model.screenshot(canvas_only=True, flash=False))
    return np.asarray(view.qt_viewer.screenshot(flash=False))


def marker_quadrant(img) -> tuple[str, str]:
    """('top'|'bottom', 'left'|'right') of the white block in a view's screenshot (its
    largest white blob: not the scale bar's text)."""
    from scipy import ndimage

    white = ndimage.binary_closing((img[..., :3] > 230).all(axis=-1), np.ones((5, 5)))
    labels, n = ndimage.label(white)
    assert n, "no marker"
    sizes = ndimage.sum(white, labels, range(1, n + 1))
    ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    return ("top" if ys.mean() < img.shape[0] / 2 else "bottom",
            "left" if xs.mean() < img.shape[1] / 2 else "right")


def save(widget, name: str) -> None:
    widget.grab().save(str(OUT / name))
    print("wrote", OUT / name)


def phantom(folder: Path) -> Path:
    vol = np.full((40, 40, 40), 100, np.int16)
    vol[28:36, 28:36, 28:36] = 1000  # +8..+15 mm on R, A and S
    aff = np.eye(4)
    aff[:3, 3] = -20
    path = folder / "phantom.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), path)
    return path


def brain() -> list[str]:
    colin = Path(os.environ.get("NORA_TESTDATA", Path.home() / ".cache/napari-nora/testdata"))
    colin = colin / "mricron" / "ch2better.nii.gz"
    return [str(colin)] if colin.is_file() else []


def main() -> None:
    OUT.mkdir(exist_ok=True)
    viewer = build_viewer(brain(), show=True)  # what `napari-nora` opens, in ortho layout
    window = viewer.window._qt_window
    window.resize(1500, 900)
    ctl = viewer._nora_workspace
    for name in LAYOUTS:
        ctl.state.layout = name
        ctl.state.set_axes([0, 1, 2], [8.0, 2.0, -22.0])  # left putamen (MNI-like space)
        settle()
        ctl.reset_views()
        settle()
        for view in ctl.views:
            assert view_shot(view)[..., :3].std() > 10, (name, view.kind, "blank view")
        save(window, f"workspace-{name}.png")
    viewer.close()

    with tempfile.TemporaryDirectory() as tmp:
        viewer = build_viewer([str(phantom(Path(tmp)))], show=True)
        qt_viewer = viewer.window._qt_viewer
        qt_viewer.dockLayerList.hide()  # only the views are saved: give them the width
        qt_viewer.dockLayerControls.hide()
        viewer.window._qt_window.resize(1600, 520)
        viewer.layers[0].contrast_limits = (0, 1000)
        ctl = viewer._nora_workspace
        expect = {"radiological": {"axial": ("top", "left"), "coronal": ("top", "left"),
                                   "sagittal": ("top", "left")},
                  "neurological": {"axial": ("top", "right"), "coronal": ("top", "right"),
                                   "sagittal": ("top", "left")}}
        for convention, where in expect.items():
            ctl.set_convention(convention)
            ctl.state.set_axes([0, 1, 2], [12.0, 12.0, 12.0])
            settle()
            ctl.reset_views()
            settle()
            for view in ctl.views:
                got = marker_quadrant(view_shot(view))
                assert got == where[view.kind], (convention, view.kind, got)
            save(ctl._container, f"workspace-phantom-{convention}.png")
        viewer.close()


if __name__ == "__main__":
    main()
