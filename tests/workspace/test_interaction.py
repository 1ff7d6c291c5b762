"""NORA's mouse and keys on the workspace views, driven by real Qt input events, and their
wiring to the ROI tool (both docks opened from the Plugins menu)."""

import numpy as np
import pytest

from napari_nora.widgets.roi_layers import mask_of
from tests.workspace.helpers import (click, drag, grab, hover, key, settle, trace, wheel,
                                     world_to_px)


def _centre(view):
    size = view.qt_viewer.canvas.native.size()
    return size.width() / 2, size.height() / 2


def test_wheel_steps_the_slice_of_its_own_view_at_the_scroll_speed(ws, qtbot):
    ctl = ws.ctl
    coronal = ctl.view_of_kind("coronal")
    wheel(coronal, _centre(coronal), +1)
    assert ctl.state.position == (0.0, 1.0, 0.0)  # coronal slices along A: one 1 mm slice
    key(qtbot, coronal, "Y")  # faster: 2 slices per notch
    wheel(coronal, _centre(coronal), -1)
    assert ctl.state.position[1] == -1.0
    wheel(ctl.main, _centre(ctl.main), +1)  # the axial view slices along S
    assert ctl.state.position == (2.0, -1.0, 0.0)
    assert ctl.main.model.dims.point[0] == 2.0 and coronal.model.dims.point[1] == -1.0
    key(qtbot, ctl.main, "X")
    key(qtbot, ctl.main, "X")  # slower: half a slice per notch
    wheel(ctl.main, _centre(ctl.main), +1)
    assert ctl.state.position[0] == 2.0
    wheel(ctl.main, _centre(ctl.main), +1)
    assert ctl.state.position[0] == 3.0
    assert "0.5 slice" in ws.widget._speed.text()


def test_ctrl_wheel_zooms_that_view_about_the_cursor(ws, qtbot):
    ctl = ws.ctl
    sag = ctl.view_of_kind("sagittal")
    cam = sag.model.scene.camera
    zoom0, main_zoom0, pos0 = cam.zoom, ctl.main.model.scene.camera.zoom, ctl.state.position
    w, h = _centre(sag)
    at = (w * 0.6, h * 0.7)
    wheel(sag, at, +2, modifiers=("Control",))
    assert cam.zoom == pytest.approx(zoom0 * 1.15**2)
    assert world_to_px(sag, sag.model.cursor.position) == pytest.approx(at, abs=1.0)
    assert ctl.state.position == pos0  # no slice change
    assert ctl.main.model.scene.camera.zoom == main_zoom0  # each view its own zoom


def test_right_drag_pans_only_that_view(ws, qtbot):
    ctl = ws.ctl
    cor = ctl.view_of_kind("coronal")
    w, h = _centre(cor)
    grabbed = (0.0, 5.0, -6.0)  # (S, A, R); A is the coronal's slice axis
    start = world_to_px(cor, grabbed)
    main_center0 = tuple(ctl.main.model.scene.camera.center)
    drag(cor, start, (start[0] + 30, start[1] + 20), button="right")
    assert world_to_px(cor, grabbed) == pytest.approx((start[0] + 30, start[1] + 20), abs=1.0)
    assert tuple(ctl.main.model.scene.camera.center) == main_center0
    assert ctl.state.position == (0.0, 0.0, 0.0)  # panning moves no crosshair


def test_left_click_and_drag_move_the_crosshair_ctrl_left_is_free(ws, qtbot):
    ctl = ws.ctl
    sag = ctl.view_of_kind("sagittal")  # shows S (vertical) and A (horizontal)
    click(sag, world_to_px(sag, (5.0, -6.0, 0.0)))
    assert ctl.state.position == pytest.approx((5.0, -6.0, 0.0), abs=0.3)
    drag(sag, world_to_px(sag, (5.0, -6.0, 0.0)), world_to_px(sag, (7.0, -8.0, 0.0)))
    assert ctl.state.position == pytest.approx((7.0, -8.0, 0.0), abs=0.3)
    s, a, _ = ctl.state.position
    assert ctl.main.model.dims.point[0] == s and ctl.view_of_kind("coronal").model.dims.point[1] == a
    assert sag.crosshair.point == ctl.state.position
    before = ctl.state.position
    drag(sag, world_to_px(sag, (1.0, 1.0, 0.0)), world_to_px(sag, (2.0, 2.0, 0.0)),
         modifiers=("Control",))
    assert ctl.state.position == before  # Ctrl+left is the navigation tool's


def test_middle_drag_windows_the_image_in_all_views_shift_for_one(ws, qtbot):
    ctl, layer = ws.ctl, ws.image
    cor, sag = ctl.view_of_kind("coronal"), ctl.view_of_kind("sagittal")
    c = _centre(cor)
    drag(cor, c, (c[0] + 40, c[1]), button="middle")  # right: wider window, same level
    lo, hi = layer.contrast_limits
    assert hi - lo > 1000 and (lo + hi) / 2 == pytest.approx(500)
    for view in ctl.views[1:]:
        assert view.mirrors_of(layer)[0].contrast_limits == pytest.approx([lo, hi])
    drag(cor, c, (c[0], c[1] - 40), button="middle", modifiers=("Shift",))  # up: level up
    own = cor.mirrors_of(layer)[0].contrast_limits
    assert (own[0] + own[1]) / 2 > 500
    assert layer.contrast_limits == pytest.approx([lo, hi])
    assert sag.mirrors_of(layer)[0].contrast_limits == pytest.approx([lo, hi])


def test_nora_keys_win_over_napari_layer_keys_in_every_view(ws, qtbot):
    ctl, layer = ws.ctl, ws.image
    got = []
    ctl.hooks.subject_step.connect(got.append)
    main, cor = ctl.main, ctl.view_of_kind("coronal")
    key(qtbot, main, "4")  # an Image is active: napari's own "1"/"2" are its layer modes
    assert layer.contrast_limits == pytest.approx([-800, 2000])  # CT bone window
    key(qtbot, main, "2")
    assert layer.contrast_limits == pytest.approx([-32.5, 182.5]) and layer.mode == "pan_zoom"
    key(qtbot, cor, "1")  # from an extra view too
    assert layer.contrast_limits == pytest.approx([0, 80])
    key(qtbot, main, "0")  # automatic: robust percentiles
    assert layer.contrast_limits[1] == pytest.approx(1000)
    key(qtbot, main, "Up")
    key(qtbot, cor, "Down")
    assert got == [-1, +1]  # previous, next subject (the autoloader listens)
    key(qtbot, cor, "F1")
    help_overlay = ws.viewer.canvas.overlays["nora_help"]
    assert help_overlay.visible and "Control-Shift-Z" in help_overlay.text
    key(qtbot, main, "F1")
    assert not help_overlay.visible
    key(qtbot, cor, "S")  # the settings window
    widget = ws.viewer.window.dock_widgets["Display settings"]
    assert getattr(widget, "native", widget).isVisible()
    ctl.hooks.subject_step.disconnect(got.append)


def test_space_toggles_drawing_in_the_roi_tool_from_any_view(ws, qtbot):
    ctl, tool = ws.ctl, ws.roi_tool
    roi = tool.new_roi()
    settle(qtbot)
    assert ws.viewer.layers.selection.active is roi and not tool.settings.drawing
    key(qtbot, ctl.main, "Space")  # ROI active: the ROI layer's own binding
    assert tool.settings.drawing and tool.drawing_box.isChecked() and ctl.state.roi_drawing
    key(qtbot, ctl.view_of_kind("sagittal"), "Space")  # a mirror is active there
    assert not tool.settings.drawing and not ctl.state.roi_drawing
    ws.viewer.layers.selection.active = ws.image
    key(qtbot, ctl.main, "Space")  # an Image active: napari would hold-to-pan
    assert tool.settings.drawing and tool.drawing_box.isChecked()
    key(qtbot, ctl.main, "1")  # CT keys also on an ROI (napari: labels erase mode)
    ws.viewer.layers.selection.active = roi
    key(qtbot, ctl.main, "4")
    assert ws.image.contrast_limits == pytest.approx([-800, 2000]) and roi.mode == "pan_zoom"


def test_drawing_undo_and_redo_reach_the_roi_from_every_view(ws, qtbot):
    ctl, tool = ws.ctl, ws.roi_tool
    roi = tool.new_roi()
    tool.settings.radius_mm = 1.0
    ctl.state.set_axes([0, 1, 2], [0.0, 4.0, 0.0])  # the coronal slices through the stroke
    settle(qtbot)
    cor = ctl.view_of_kind("coronal")
    before = grab(cor)
    key(qtbot, ctl.main, "Space")  # drawing on
    # the pen owns the left button in the main view: it draws, the crosshair stays
    drag(ctl.main, world_to_px(ctl.main, (0.0, 4.0, -6.0)), world_to_px(ctl.main, (0.0, 4.0, 6.0)))
    settle(qtbot)
    mask = mask_of(roi)
    assert ctl.state.position == (0.0, 4.0, 0.0)
    assert mask[20, 24, 15:26].all() and mask.sum() == mask[20].sum()  # the stroke, in S = 0
    changed = np.abs(grab(cor).astype(int) - before.astype(int)).sum(axis=-1) > 30
    assert changed.sum() > 20  # the coronal view shows the stroke too
    drawn = mask.copy()
    key(qtbot, cor, "Z", ("Control",))  # undo from the coronal view
    assert not mask.any()
    key(qtbot, ctl.view_of_kind("sagittal"), "Z", ("Control", "Shift"))  # redo
    np.testing.assert_array_equal(mask, drawn)
    ws.viewer.layers.selection.active = ws.image
    key(qtbot, ctl.main, "Z", ("Control",))  # with the image active too
    assert not mask.any()
    # Shift suspends drawing (NORA): the left click navigates again
    ws.viewer.layers.selection.active = roi
    click(ctl.main, world_to_px(ctl.main, (0.0, -5.0, 5.0)), modifiers=("Shift",))
    assert ctl.state.position == pytest.approx((0.0, -5.0, 5.0), abs=0.3) and not mask.any()


def _coronal_with_new_roi(ws, qtbot, radius_mm):
    """A new ROI, the pen's radius, the coronal view at A = -3 (voxel 17), its screenshot."""
    roi = ws.roi_tool.new_roi()
    ws.roi_tool.settings.radius_mm = radius_mm
    ws.ctl.state.set_axes([0, 1, 2], [0.0, -3.0, 0.0])
    settle(qtbot)
    cor = ws.ctl.view_of_kind("coronal")  # shows S (vertical) and R (horizontal)
    return roi, cor, grab(cor)


def test_pens_draw_in_the_plane_of_an_extra_view_in_the_roi_undo_history(ws, qtbot):
    ctl, tool = ws.ctl, ws.roi_tool
    roi, cor, before = _coronal_with_new_roi(ws, qtbot, 1.0)
    key(qtbot, cor, "Space")  # drawing on
    drag(cor, world_to_px(cor, (-5.0, -3.0, 2.0)), world_to_px(cor, (5.0, -3.0, 2.0)))
    settle(qtbot)
    mask = mask_of(roi)
    assert ctl.state.position == (0.0, -3.0, 0.0)  # the pen, not the crosshair
    assert mask[15:26, 17, 22].all()  # S -5..5 at R = 2: voxels (S+20, A+20, R+20)
    assert mask.sum() == mask[:, 17, :].sum() and not mask[:, 17, :20].any()  # one plane
    changed = np.abs(grab(cor).astype(int) - before.astype(int)).sum(axis=-1) > 30
    assert changed.sum() > 20  # the coronal view shows its stroke
    drawn = mask.copy()
    drag(cor, world_to_px(cor, (-5.0, -3.0, 2.0)), world_to_px(cor, (-5.0, -3.0, 2.0)),
         button="right")  # erase a dot: a second stroke
    assert mask.sum() < drawn.sum()
    key(qtbot, cor, "Z", ("Control",))  # undo the erase, then the stroke: one step each
    np.testing.assert_array_equal(mask, drawn)
    key(qtbot, cor, "Z", ("Control",))
    assert not mask.any()
    key(qtbot, ctl.main, "Z", ("Control", "Shift"))  # redo from view 1: the same history
    np.testing.assert_array_equal(mask, drawn)
    # Shift suspends drawing; with drawing off the left click moves the crosshair again
    click(cor, world_to_px(cor, (4.0, -3.0, -4.0)), modifiers=("Shift",))
    assert ctl.state.position == pytest.approx((4.0, -3.0, -4.0), abs=0.3)
    key(qtbot, cor, "Space")
    assert not tool.settings.drawing
    click(cor, world_to_px(cor, (-6.0, -3.0, 7.0)))
    assert ctl.state.position == pytest.approx((-6.0, -3.0, 7.0), abs=0.3)
    np.testing.assert_array_equal(mask, drawn)


def test_the_polygon_pen_fills_an_outline_traced_in_an_extra_view(ws, qtbot):
    tool = ws.roi_tool
    roi, cor, _ = _coronal_with_new_roi(ws, qtbot, 1.0)
    tool.settings.pen = "polygon"
    key(qtbot, cor, "Space")  # drawing on
    corners = [(-5.5, -3.0, -4.5), (5.5, -3.0, -4.5), (5.5, -3.0, 4.5), (-5.5, -3.0, 4.5)]
    path = [world_to_px(cor, p) for p in corners]
    path = [tuple(np.add(a, t * np.subtract(b, a))) for a, b in zip(path, path[1:] + path[:1])
            for t in (0, 0.5)]  # around the square, a move every half side
    trace(cor, path)
    settle(qtbot)
    mask = mask_of(roi)
    expected = np.zeros_like(mask)
    expected[15:26, 17, 16:25] = True  # voxels whose centres the outline encloses: S -5..5,
    np.testing.assert_array_equal(mask, expected)  # R -4..4 at A = -3 (voxel = mm + 20)
    assert not ws.ctl.main.model.layers["ROI pen preview"].visible  # shown while tracing
    # one undo step, from the view where the pen's preview (a helper layer) showed last
    key(qtbot, cor, "Z", ("Control",))
    assert not mask.any()


def test_the_pen_preview_follows_the_mouse_in_the_plane_of_an_extra_view(ws, qtbot):
    ctl = ws.ctl
    roi, cor, before = _coronal_with_new_roi(ws, qtbot, 2.0)
    key(qtbot, cor, "Space")  # drawing on
    hover(cor, world_to_px(cor, (4.0, -3.0, 2.0)))
    settle(qtbot)
    prev = ctl.main.model.layers["ROI pen preview"]
    assert prev.visible
    world = np.round([prev.data_to_world(v) for v in np.argwhere(prev.data)]).astype(int)
    assert set(world[:, 1]) == {-3}  # a disc in the coronal plane, not the axial one
    assert world[:, 0].min() == 2 and world[:, 0].max() == 6  # S 4 +- 2 mm
    assert world[:, 2].min() == 0 and world[:, 2].max() == 4  # R 2 +- 2 mm
    changed = np.abs(grab(cor).astype(int) - before.astype(int)).sum(axis=-1) > 30
    assert changed.sum() > 5  # the coronal view shows it
    assert not mask_of(roi).any()  # a preview draws nothing
    assert ctl.state.position == (0.0, -3.0, 0.0)  # adding the preview moved no slice
    assert "ROI pen preview" not in ctl.readout_text()  # a helper, not an image to read
    hover(cor, world_to_px(cor, (4.0, -3.0, 2.0)), modifiers=("Shift",))  # Shift: no pen
    assert not prev.visible
