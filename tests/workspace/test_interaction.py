"""NORA's mouse and keys on the workspace views (callbacks driven with synthetic events),
and the memory the extra views cost."""

import contextlib
import gc
import tracemalloc

import numpy as np
import pytest
from app_model.types import KeyBinding

from tests.workspace.helpers import settle


class FakeMouse:
    def __init__(self, position, pos=(100.0, 100.0), button=1, modifiers=(), delta=(0.0, 0.0)):
        self.position, self.pos, self.button = tuple(position), np.asarray(pos, float), button
        self.modifiers, self.delta, self.type = modifiers, np.asarray(delta, float), "mouse_press"
        self.native, self.handled, self.viewbox = None, False, (0, 0)


def drag(view, start, moves, **kw):
    """Press at ``start`` (position, pos), move through ``moves``, release."""
    _, on_drag = view._nora_mouse
    ev = FakeMouse(*start, **kw)
    gen = on_drag(view.model, ev)
    if gen is None:
        return
    try:
        next(gen)
    except StopIteration:  # the callback declined the press
        return
    for position, pos in moves:
        ev.type, ev.position, ev.pos = "mouse_move", tuple(position), np.asarray(pos, float)
        next(gen)
    ev.type = "mouse_release"
    with contextlib.suppress(StopIteration):
        next(gen)


def press_key(model, key):
    model.keymap[KeyBinding.from_str(key)](model)


@pytest.fixture
def ortho(workspace, qtbot):
    viewer, widget, layer = workspace
    widget.controller.state.layout = "ortho"
    widget.controller.state.set_axes([0, 1, 2], [0.0, 0.0, 0.0])
    settle(qtbot)
    return viewer, widget.controller, layer


def test_wheel_steps_the_slice_of_its_own_view_at_the_scroll_speed(ortho):
    viewer, ctl, _ = ortho
    coronal = ctl.view_of_kind("coronal")
    on_wheel, _ = coronal._nora_mouse
    on_wheel(coronal.model, FakeMouse((0, 0, 0), delta=(0, 1)))
    assert ctl.state.position == (0.0, 1.0, 0.0)  # coronal slices along A: one 1 mm slice
    press_key(coronal.model, "y")  # faster: 2 slices per notch
    on_wheel(coronal.model, FakeMouse((0, 0, 0), delta=(0, -1)))
    assert ctl.state.position[1] == -1.0
    on_wheel_axial, _ = ctl.main._nora_mouse
    on_wheel_axial(viewer, FakeMouse((0, 0, 0), delta=(0, 1)))  # axial slices along S
    assert ctl.state.position == (2.0, -1.0, 0.0) and viewer.dims.point[0] == 2.0
    assert coronal.model.dims.point[1] == -1.0


def test_ctrl_wheel_zooms_about_the_cursor_and_keeps_the_slice(ortho):
    viewer, ctl, _ = ortho
    sag = ctl.view_of_kind("sagittal")
    cam = sag.model.scene.camera
    zoom0, pos0 = cam.zoom, ctl.state.position
    on_wheel, _ = sag._nora_mouse
    on_wheel(sag.model, FakeMouse((0, 5.0, 5.0), delta=(0, 2), modifiers=("Control",)))
    assert cam.zoom > zoom0 * 1.2 and ctl.state.position == pos0
    assert viewer.scene.camera.zoom != cam.zoom  # each view its own zoom


def test_right_drag_pans_only_that_view(ortho):
    viewer, ctl, _ = ortho
    cor = ctl.view_of_kind("coronal")
    cam = cor.model.scene.camera
    center0, main_center0 = np.array(cam.center), np.array(viewer.scene.camera.center)
    drag(cor, ((0, 0, 0), (100, 100)), [((3.0, 0, -4.0), (120, 80))], button=2)
    # the grabbed point follows the mouse: the centre moves the other way
    assert np.array(cam.center)[-2:] == pytest.approx(center0[-2:] + [-3.0, 4.0])
    assert np.array(viewer.scene.camera.center) == pytest.approx(main_center0)
    assert ctl.state.position == (0.0, 0.0, 0.0)


def test_left_drag_moves_the_crosshair_and_ctrl_left_is_left_free(ortho):
    viewer, ctl, _ = ortho
    sag = ctl.view_of_kind("sagittal")
    drag(sag, ((5.0, -6.0, 0.0), (0, 0)), [((7.0, -8.0, 0.0), (0, 0))], button=1)
    assert ctl.state.position == (7.0, -8.0, 0.0)
    assert viewer.dims.point[0] == 7.0 and ctl.view_of_kind("coronal").model.dims.point[1] == -8.0
    assert sag.crosshair.point == (7.0, -8.0, 0.0)
    drag(sag, ((1.0, 1.0, 0.0), (0, 0)), [], button=1, modifiers=("Control",))
    assert ctl.state.position == (7.0, -8.0, 0.0)


def test_middle_drag_windows_the_active_image_in_all_views_shift_for_one(ortho):
    viewer, ctl, layer = ortho
    layer.contrast_limits = (0, 1000)
    cor = ctl.view_of_kind("coronal")
    drag(cor, ((0, 0, 0), (100, 100)), [((0, 0, 0), (140, 100))], button=3)
    lo, hi = layer.contrast_limits
    assert hi - lo > 1000 and (lo + hi) / 2 == pytest.approx(500)
    for view in ctl.views[1:]:
        assert view.mirrors_of(layer)[0].contrast_limits == pytest.approx([lo, hi])
    drag(cor, ((0, 0, 0), (100, 100)), [((0, 0, 0), (100, 60))], button=3, modifiers=("Shift",))
    own = cor.mirrors_of(layer)[0].contrast_limits
    assert (own[0] + own[1]) / 2 > 500 and layer.contrast_limits == pytest.approx([lo, hi])
    assert ctl.view_of_kind("sagittal").mirrors_of(layer)[0].contrast_limits == pytest.approx([lo, hi])


def test_keys_reach_their_hooks_from_every_view(ortho):
    viewer, ctl, layer = ortho
    got = []
    ctl.hooks.roi_toggled.connect(lambda on: got.append(("roi", on)))
    ctl.hooks.subject_step.connect(lambda n: got.append(("subject", n)))
    ctl.hooks.undo.connect(lambda: got.append("undo"))
    ctl.hooks.redo.connect(lambda: got.append("redo"))
    ctl.hooks.settings_requested.disconnect()
    ctl.hooks.settings_requested.connect(lambda: got.append("settings"))
    cor = ctl.view_of_kind("coronal").model
    for model, key in [(viewer, "Space"), (cor, "Space"), (cor, "Up"), (viewer, "Down"),
                       (cor, "Control-Z"), (viewer, "Control-Shift-Z"), (cor, "s")]:
        press_key(model, key)
    assert got == [("roi", True), ("roi", False), ("subject", -1), ("subject", 1), "undo", "redo",
                   "settings"]
    press_key(cor, "4")  # CT bone window from an extra view, on the shared image
    assert layer.contrast_limits == pytest.approx([-800, 2000])
    press_key(viewer, "x")
    assert ctl.state.scroll_speed == 0.5
    help_overlay = viewer.canvas.overlays["nora_help"]
    press_key(cor, "F1")
    assert help_overlay.visible and "Control-Shift-Z" in help_overlay.text


def test_extra_views_copy_no_image_data(make_napari_viewer, qtbot):
    """Opening the ortho layout allocates nothing near the volume's size: each canvas costs a
    fixed amount (fonts, shaders, slices), the volume is shared."""
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
    ctl.state.layout = "single"
    settle(qtbot)
