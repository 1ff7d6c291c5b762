"""Screenshot of the ROI tool for docs/roi.md; run under a display:
``xvfb-run -a python docs/make_roi_screenshots.py``.

Writes docs/images/roi-polygon.png: Colin27 (``$NORA_TESTDATA/mricron``, else the sample brain
MR) in the ortho layout with the ROI tool, an outline traced with the polygon pen in the coronal
view (a pen stroke as the mouse gives it, through the workspace) and its preview while tracing;
checked before it is saved: the preview covers the outline's inside, in the coronal plane.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from make_workspace_screenshots import OUT, brain, save, settle  # noqa: E402

from napari_nora.__main__ import build_viewer  # noqa: E402


class Mouse:
    """A mouse event as napari hands a drag callback (world position in (S, A, R) mm)."""

    def __init__(self, position):
        self.position, self.button, self.modifiers, self.type = position, 1, (), "mouse_press"


def main() -> None:
    viewer = build_viewer(brain(), show=True, desktop=False)
    viewer.window._qt_window.resize(1600, 900)
    _, tool = viewer.window.add_plugin_dock_widget("napari-nora", "ROI tool")
    ctl = viewer._nora_workspace
    settle(20)
    roi = tool.new_roi()
    tool.settings.pen, tool.settings.drawing = "polygon", True
    ctl.state.set_axes([0, 1, 2], [10.0, -10.0, 0.0])
    settle(20)
    cor = ctl.view_of_kind("coronal")
    s, a, r = ctl.state.position
    outline = [(s + ds, a, r + dr) for ds, dr in
               ((-25, -10), (-5, -30), (20, -25), (30, 0), (20, 25), (-5, 30), (-25, 10))]
    ev = Mouse(outline[0])
    stroke = ctl.draw_in(cor, tool, ev)
    next(stroke)
    for p in outline[1:]:
        ev.type, ev.position = "mouse_move", p
        next(stroke)
    settle(20)
    preview = viewer.layers["ROI pen preview"]
    world = np.array([preview.data_to_world(v) for v in np.argwhere(preview.data)])
    assert preview.visible and len(world) > 500, "no preview"
    assert np.ptp(world[:, 1]) < 1e-3, "the preview is not in the coronal plane"
    save(viewer.window._qt_window, "roi-polygon.png")
    ev.type = "mouse_release"
    next(stroke, None)
    assert np.asarray(roi.data).astype(bool).sum() == len(world), "the outline was not drawn"


if __name__ == "__main__":
    main()
