"""Linked views under Xvfb: orientation in every view, click linking, no data copies."""

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt

from tests.workspace.helpers import bright_centroid, grab, settle, white_centroid_px

MARKER_MM = (8.0, 15.0)  # the bright block spans +8..+15 mm on S, A and R


def _through_marker(widget, qtbot):
    widget.controller.state.set_axes([0, 1, 2], [12.0, 12.0, 12.0])
    settle(qtbot)
    widget.controller.reset_views()
    settle(qtbot)


def test_marker_in_the_right_place_in_every_view(workspace, qtbot):
    viewer, widget, _ = workspace
    widget.controller.state.layout = "ortho"
    _through_marker(widget, qtbot)
    views = {v.kind: v for v in widget.controller.views}
    assert set(views) == {"axial", "coronal", "sagittal"}
    for kind, view in views.items():
        shot = grab(view)
        assert shot[..., :3].std() > 10, kind
        row, col = bright_centroid(shot)
        # axial: anterior up, patient right on screen left (radiological); coronal: superior up,
        # right on the left; sagittal: superior up, anterior on the left
        assert row < 0.5 and col < 0.5, (kind, row, col)

    widget.controller.set_convention("neurological")
    settle(qtbot)
    for kind in ("axial", "coronal"):
        row, col = bright_centroid(grab(views[kind]))
        assert row < 0.5 and col > 0.5, kind  # patient right on screen right
    labels = views["axial"].model.canvas.overlays
    assert (labels["nora_orient_left"].text, labels["nora_orient_right"].text) == ("L", "R")


def test_orientation_letters_radiological(workspace, qtbot):
    viewer, widget, _ = workspace
    widget.controller.state.layout = "ortho"
    settle(qtbot)
    expect = {"axial": "APRL", "coronal": "SIRL", "sagittal": "SIAP"}
    for view in widget.controller.views:
        ov = view.model.canvas.overlays
        got = "".join(ov[f"nora_orient_{e}"].text for e in ("top", "bottom", "left", "right"))
        assert got == expect[view.kind]
        assert ov["scale_bar"].visible


def test_click_in_coronal_moves_the_other_views(workspace, qtbot):
    viewer, widget, layer = workspace
    ctl = widget.controller
    ctl.state.layout = "ortho"
    ctl.state.set_axes([0, 1, 2], [-10.0, 12.0, -10.0])  # coronal through the block only
    settle(qtbot)
    ctl.reset_views()
    settle(qtbot)
    coronal = ctl.view_of_kind("coronal")
    x, y = white_centroid_px(grab(coronal))
    canvas = coronal.qt_viewer.canvas.native
    ratio = canvas.devicePixelRatioF()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(x / ratio), int(y / ratio)))
    settle(qtbot)
    s, a, r = ctl.state.position
    assert a == pytest.approx(12.0)  # the coronal slice stays
    assert MARKER_MM[0] - 0.5 <= s <= MARKER_MM[1] + 0.5 and MARKER_MM[0] - 0.5 <= r <= MARKER_MM[1] + 0.5
    # slice indices of the other views: axial slices S, sagittal slices R, both inside the block
    axial, sagittal = ctl.main, ctl.view_of_kind("sagittal")
    k_axial = axial.model.dims.current_step[0]
    k_sag = sagittal.model.dims.current_step[2]
    assert 28 <= k_axial <= 35 and 28 <= k_sag <= 35
    assert k_axial == round(s + 20) and k_sag == round(r + 20)
    assert coronal.model.dims.current_step[1] == 32
    # the readout reports the point and the voxel under it
    assert "phantom [" in widget._readout.text() and "= 1000" in widget._readout.text()


def test_views_share_the_data_and_appearance(workspace, qtbot):
    viewer, widget, layer = workspace
    ctl = widget.controller
    ctl.state.layout = "2x2"
    settle(qtbot)
    mirrors = [m for v in ctl.views[1:] for m in v.mirrors_of(layer)]
    assert len(mirrors) == 3 and all(m.data is layer.data for m in mirrors)
    layer.colormap = "magma"
    layer.contrast_limits = (50, 500)
    assert all(m.colormap.name == "magma" and m.contrast_limits == [50, 500] for m in mirrors)
    coronal = ctl.view_of_kind("coronal")
    own = ctl.window_level_target(coronal, shift=True)  # Shift: this view only
    assert own is coronal.mirrors_of(layer)[0]
    own.contrast_limits = (0, 2000)
    assert layer.contrast_limits == [50, 500]
    assert ctl.window_level_target(coronal, shift=False) is layer


def test_every_layout_shows_content(workspace, qtbot):
    viewer, widget, layer = workspace
    for name in ("single", "ortho", "ortho3d", "2x2", "mosaic", "lightbox"):
        widget._layout.setCurrentIndex(widget._layout.findData(name))  # the selector
        _through_marker(widget, qtbot)
        from napari_nora.workspace.layouts import LAYOUTS

        assert [v.kind for v in widget.controller.views] == [s.kind for s in LAYOUTS[name].views]
        for view in widget.controller.views:
            shot = grab(view)
            assert shot[..., :3].std() > 10, (name, view.kind)
            grey = shot[..., :3].mean(axis=-1)
            assert (grey > 200).any(), (name, view.kind)  # the marker (or its slice) shows


def test_mosaic_tiles_span_the_volume_and_click_selects_slice(workspace, qtbot):
    viewer, widget, layer = workspace
    ctl = widget.controller
    ctl.state.layout = "lightbox"
    settle(qtbot)
    mosaic = ctl.view_of_kind("mosaic")
    assert len(mosaic.tile_positions) == 6 and mosaic.tile_positions == sorted(mosaic.tile_positions)
    assert all(m.data is layer.data for m in mosaic.mirrors_of(layer))
    # a click in the last tile (top slices) moves the axial view there
    last = mosaic.tile_positions[-1]

    class Event:
        position = (0.0, 10.0, 10.0)
        viewbox = (0, 5)

    ctl.move_crosshair(mosaic, Event)
    assert ctl.state.position[0] == pytest.approx(last, abs=0.51)
    assert ctl.main.model.dims.point[0] == pytest.approx(ctl.state.position[0])
