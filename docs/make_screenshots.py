"""Screenshots for the docs: run under a display, e.g. ``xvfb-run -a python docs/make_screenshots.py``.

Writes docs/images/open-brain.png (the sample brain, axial, radiological), open-oblique.png
(the same scan stored straight and stored oblique, side by side in one world) and
open-ct-window.png (a CT with the soft-tissue window, key 6).
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_nora.viewer_hook import set_ct_window

OUT = Path(__file__).parent / "images"


def shot(viewer, name):
    QApplication.processEvents()
    img = viewer.screenshot(canvas_only=False, flash=False)
    from imageio.v3 import imwrite

    imwrite(OUT / name, np.asarray(img))
    print("wrote", OUT / name)


def main():
    OUT.mkdir(exist_ok=True)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1100, 800)
    viewer.open_sample("napari-nora", "brain")
    viewer.dims.set_point(0, 10.0)
    viewer.reset_view()
    shot(viewer, "open-brain.png")

    viewer.open_sample("napari-nora", "oblique")
    oblique = viewer.layers[-1]
    oblique.colormap, oblique.blending, oblique.opacity = "gray", "translucent", 1.0
    viewer.grid.enabled = True  # side by side, in the same world: the tilt is the scanner's
    viewer.reset_view()
    shot(viewer, "open-oblique.png")
    viewer.grid.enabled = False
    viewer.layers.clear()

    viewer.open_sample("napari-nora", "ct")
    set_ct_window(viewer, "6")
    viewer.reset_view()
    shot(viewer, "open-ct-window.png")
    viewer.close()


if __name__ == "__main__":
    main()
