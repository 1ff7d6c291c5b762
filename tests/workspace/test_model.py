"""The Qt-free workspace: layouts, shared state, navigation arithmetic, readout, labels."""

import numpy as np
import pytest

from napari_nora.workspace import appearance, keys, layouts, navigation, orientation, readout
from napari_nora.workspace.state import SCROLL_SPEEDS, Workspace, WorkspaceState


def test_every_layout_starts_with_the_main_axial_view_and_tiles_its_grid():
    for layout in layouts.LAYOUTS.values():
        assert layout.views[0].kind == "axial" and (layout.views[0].row, layout.views[0].col) == (0, 0)
        rows, cols = layout.shape
        cells = {(v.row + r, v.col + c) for v in layout.views
                 for r in range(v.rowspan) for c in range(v.colspan)}
        assert len(cells) == sum(v.rowspan * v.colspan for v in layout.views)  # no overlap
        assert cells <= {(r, c) for r in range(rows) for c in range(cols)}
    assert layouts.LAYOUTS["2x2"].shape == (2, 2)
    ortho = layouts.LAYOUTS["ortho"]
    assert layouts.arranged(ortho, 1500, 900) is ortho and ortho.shape == (1, 3)
    tall = layouts.arranged(ortho, 800, 1000)  # a row would leave each view a strip
    assert [(v.kind, v.row, v.col, v.rowspan) for v in tall.views] == [
        ("axial", 0, 0, 2), ("coronal", 0, 1, 1), ("sagittal", 1, 1, 1)]
    assert layouts.arranged(layouts.LAYOUTS["2x2"], 800, 1000) is layouts.LAYOUTS["2x2"]
    with pytest.raises(ValueError):
        layouts.ViewSpec("oblique", 0, 0)


def test_dims_order_and_slice_axis():
    assert layouts.dims_order("axial", 3) == (0, 1, 2)
    assert layouts.slice_axis("coronal", 3) == 1 and layouts.slice_axis("sagittal", 3) == 2
    assert layouts.dims_order("sagittal", 4) == (0, 3, 1, 2)  # time first, then R, (S, A) shown


def test_mosaic_positions_and_tiles():
    pos = layouts.mosaic_positions(0.0, 100.0, 5, margin=0.1)
    assert pos == pytest.approx([10, 30, 50, 70, 90])
    assert layouts.mosaic_grid(6, canvas=(200, 1200)) == (1, 6)  # NORA's bottom row
    assert layouts.mosaic_grid(6, canvas=(900, 500)) == (3, 2)  # lightbox beside the axial
    assert layouts.mosaic_grid(12, canvas=(400, 1200)) == (2, 6)
    assert layouts.mosaic_grid(6, canvas=(600, 600), tile=(1, 2)) == (3, 2)  # wide tiles


def test_state_is_evented_and_position_set_by_axis():
    state = WorkspaceState(position=(0.0, 0.0, 0.0))
    seen = []
    state.events.position.connect(seen.append)
    assert state.set_axes([1], [5.0])
    assert not state.set_axes([1], [5.0])  # no change, no event
    assert state.position == (0.0, 5.0, 0.0) and len(seen) == 1
    with pytest.raises(ValueError):
        WorkspaceState(layout="nope")


def test_scroll_speed_keys_step_through_speeds():
    state = WorkspaceState()
    assert state.faster() == 2.0 and state.slower() == 1.0
    for _ in range(10):
        state.slower()
    assert state.scroll_speed == SCROLL_SPEEDS[0]


def test_roi_toggle_hook():
    ws = Workspace()
    got = []
    ws.hooks.roi_toggled.connect(got.append)
    ws.toggle_roi_drawing()
    ws.toggle_roi_drawing()
    assert got == [True, False] and ws.state.roi_drawing is False


def test_slice_scroller_accumulates_fractional_speed():
    sc = navigation.SliceScroller()
    assert [sc.steps(1, 0.25) for _ in range(4)] == [0, 0, 0, 1]
    assert sc.steps(-1, 2.0) == -2
    assert navigation.step_position((5.0, 0, 0), 0, 3, 2.0, 0, 8) == 8.0


def test_zoom_keeps_anchor_fixed():
    zoom, center = navigation.zoom_about((0.0, 0.0), 1.0, 2.0, (10.0, 20.0))
    assert zoom == 2.0
    # the anchor's offset from the centre halves in world units, so it stays on the same pixel
    assert np.subtract((10, 20), center) * zoom == pytest.approx(np.subtract((10, 20), (0, 0)) * 1.0)


def test_window_level_drag():
    lo, hi = navigation.window_level_drag((0, 100), 40, 0, data_range=(0, 400))
    assert (lo, hi) == pytest.approx((-20, 120))  # wider, same level
    lo, hi = navigation.window_level_drag((0, 100), 0, -40, data_range=(0, 400))
    assert (lo + hi) / 2 == pytest.approx(90) and hi - lo == pytest.approx(100)  # up: level up
    lo, hi = navigation.window_level_drag((0, 100), -10_000, 0, data_range=(0, 400))
    assert hi > lo


@pytest.mark.parametrize("displayed, orient, expect", [
    ((1, 2), ("up", "left"), dict(top="A", bottom="P", left="R", right="L")),  # axial radiological
    ((1, 2), ("up", "right"), dict(top="A", bottom="P", left="L", right="R")),  # neurological
    ((0, 2), ("up", "left"), dict(top="S", bottom="I", left="R", right="L")),  # coronal
    ((0, 1), ("up", "left"), dict(top="S", bottom="I", left="A", right="P")),  # sagittal
])
def test_edge_labels(displayed, orient, expect):
    assert orientation.edge_labels(displayed, orient) == expect


@pytest.mark.parametrize("convention", [("up", "left"), ("up", "right")])
def test_sagittal_keeps_anterior_left_in_both_conventions(convention):
    assert orientation.view_orientation2d("axial", convention) == convention
    assert orientation.view_orientation2d("coronal", convention) == convention
    sagittal = orientation.view_orientation2d("sagittal", convention)
    assert sagittal == ("up", "left")
    assert orientation.edge_labels((0, 1), sagittal)["left"] == "A"


def test_appearance_change_reaches_all_views_or_with_shift_the_active_one():
    assert [appearance.reaches(v, 1, shift=False) for v in range(3)] == [True, True, True]
    assert [appearance.reaches(v, 1, shift=True) for v in range(3)] == [False, True, False]


def test_readout_of_visible_images():
    from napari.layers import Image, Points

    vol = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    disp2vox = np.eye(4)[[2, 1, 0, 3]]  # display (z, y, x) -> voxel (x, y, z) as i, j, k
    img = Image(vol, scale=(2, 1, 1), translate=(10, 0, 0), name="t1", metadata={"disp2vox": disp2vox})
    hidden = Image(vol, name="hidden", visible=False)
    pts = Points([[0, 0, 0]])
    rows = readout.readout([hidden, img, pts], (14.2, 3.0, 4.9))
    assert [r.name for r in rows] == ["t1"]
    (row,) = rows
    assert row.index_disp == (2, 3, 5) and row.value == int(vol[2, 3, 5])
    assert row.index_vox == (5, 3, 2)
    assert readout.layer_readout(img, (100.0, 0, 0)).value is None
    text = readout.format_readout((14.2, 3.0, 4.9), rows)
    assert text.splitlines()[0] == "RAS 4.9 3.0 14.2 mm" and "t1 [5 3 2] = " in text


def test_help_lists_all_nora_keys():
    text = keys.help_text()
    for key in ("1", "6", "0", "s", "x", "y", "Space", "Up", "Down", "Control-Z", "Control-Shift-Z"):
        assert f"  {key} " in text
