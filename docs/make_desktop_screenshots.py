"""Screenshots of the NORA desktop for docs/desktop.md: ``xvfb-run -a python
docs/make_desktop_screenshots.py``.

Builds the demo archive (as ``napari-nora``'s first start does) in a temporary folder and writes
docs/images/desktop-browser.png, desktop-autoloader.png and desktop-upload.png.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "images"


def settle(desktop, seconds=0.5):
    from qtpy.QtWidgets import QApplication

    desktop.wait(300_000)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def shot(viewer, name):
    from imageio.v3 import imwrite

    imwrite(OUT / name, np.asarray(viewer.screenshot(canvas_only=False, flash=False)))
    print("wrote", OUT / name)


def main():
    import napari

    from napari_nora.widgets.desktop import DesktopWidget
    from napari_nora.widgets.desktop_context import DesktopContext
    from nora_server.demo import ensure_demo

    home = Path(tempfile.mkdtemp(prefix="nora-shots-"))
    settings = ensure_demo(home / "nora.toml", root=home / "data", user="demo")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 950)
    ctx = DesktopContext.connect(settings.path, "demo", viewer=viewer)
    desktop = DesktopWidget(viewer, ctx, "demo")
    dock = viewer.window.add_dock_widget(desktop, name="NORA desktop", area="right")
    from qtpy.QtCore import Qt

    window = viewer.window._qt_window
    window.resizeDocks([dock], [900], Qt.Orientation.Horizontal)
    settle(desktop)

    browser = desktop.tools["Browser"]
    browser.header.editors["desc"].setText("MRI head")
    browser.file_search.setText("t2*")
    settle(desktop)
    ref = browser.model.ref_at(1)
    ctx.selection = [ref]
    settle(desktop)
    browser.files.itemDoubleClicked.emit(browser.files.item_for("t1_mprage_3/s003.nii"), 0)
    settle(desktop)
    viewer.dims.set_point(0, 10.0)
    viewer.reset_view()
    settle(desktop)
    shot(viewer, "desktop-browser.png")

    browser.file_search.clear()
    browser.header.editors["desc"].clear()
    settle(desktop)
    viewer.layers.clear()
    desktop.tabs.setCurrentIndex(1)
    window.resizeDocks([dock], [560], Qt.Orientation.Horizontal)
    settle(desktop)
    auto = desktop.tools["Autoloader"]
    ctx.selection = [browser.model.ref_at(0)]
    auto.start()
    settle(desktop, 1.0)
    auto.set_qc(verdict="pass")
    auto.set_qc(rating=4)
    settle(desktop, 1.0)
    auto.step(+1)  # the follow-up (T1 only), then the next patient (T1 and T2)
    settle(desktop, 1.0)
    auto.step(+1)
    settle(desktop, 1.0)
    auto.set_qc(verdict="fail")
    auto.set_qc(rating=2)
    settle(desktop, 1.0)
    shot(viewer, "desktop-autoloader.png")
    ctl = getattr(viewer, "_nora_workspace", None)
    if ctl is not None:
        ctl.state.layout = "single"

    desktop.tabs.setCurrentIndex(2)
    window.resizeDocks([dock], [760], Qt.Orientation.Horizontal)
    src = home / "to-upload"
    _upload_sources(src)
    up = desktop.tools["Upload"]
    ctx.selection = [browser.model.ref_at(3)]
    up.add_paths([src / "dwi_run"])
    up.upload()
    settle(desktop, 1.0)
    up.add_paths([src / "sub-DEMO005", src / "scan.nii.gz"])
    up.to_native.setChecked(True)
    settle(desktop, 1.0)
    shot(viewer, "desktop-upload.png")
    viewer.close()


def _upload_sources(src: Path) -> None:
    import nibabel as nib

    from nora_server.demo import sample_t1

    vol, aff = sample_t1()
    (src / "dwi_run").mkdir(parents=True)
    nib.save(nib.Nifti1Image(vol, aff), src / "dwi_run" / "dwi.nii.gz")
    (src / "dwi_run" / "dwi.bval").write_text("0 1000 1000\n")
    anat = src / "sub-DEMO005" / "ses-01" / "anat"
    anat.mkdir(parents=True)
    nib.save(nib.Nifti1Image(vol, aff), anat / "sub-DEMO005_ses-01_T1w.nii.gz")
    nib.save(nib.Nifti1Image(vol, aff), src / "scan.nii.gz")
    (src / "scan.json").write_text(json.dumps({"PatientID": "DEMO002", "StudyDate": "20250101",
                                               "Modality": "MR"}))


if __name__ == "__main__":
    main()
