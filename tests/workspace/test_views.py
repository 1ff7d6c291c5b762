"""Linked views under Xvfb: every layout from the selector, the phantom's marker where each
convention puts it, orientation letters and scale bars, shared data and appearance."""

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtTest import QTest

from napari_nora.workspace.layouts import LAYOUTS
from tests.workspace.conftest import MARKER_MM
from tests.workspace.helpers import bright_centroid, click, grab, settle, world_to_px

THROUGH_MARKER = (12.0, 12.0, 12.0)


def _through_marker(ctl, qtbot):
    ctl.state.set_axes([0, 1, 2], THROUGH_MARKER)
    settle(qtbot)
    ctl.reset_views()
    settle(qtbot)


def test_every_layout_from_the_selector_shows_the_marker(ws, qtbot):
    combo, ctl = ws.widget._layout, ws.ctl
    for name, layout in LAYOUTS.items():
        combo.setCurrentIndex(combo.findData(name))  # the selector, as a user picks it
        _through_marker(ctl, qtbot)
        assert ctl.state.layout == name
        assert [v.kind for v in ctl.views] == [s.kind for s in layout.views]
        for view in ctl.views:
            shot = grab(view)
            assert shot[..., :3].std() > 10, (name, view.kind)  # not blank
            # the marker (1000 at limits 0..1000) shows white in every view through it
            assert ((shot[..., :3] > 230).all(axis=-1)).sum() > 30, (name, view.kind)
        views = {v.kind: v for v in ctl.views}
        if "3d" in views:
            assert views["3d"].model.dims.ndisplay == 3
        if "mosaic" in views:  # six tiles spread over S; only tiles inside the block are white
            mosaic = views["mosaic"]
            assert len(mosaic.tile_positions) == 6
            assert mosaic.crosshair.visible and mosaic.crosshair.point == ctl.state.position
            assert mosaic.tile_positions == sorted(mosaic.tile_positions)


def test_marker_where_each_convention_puts_it(ws, qtbot):
    ctl = ws.ctl
    _through_marker(ctl, qtbot)
    views = {v.kind: v for v in ctl.views}
    # radiological: axial anterior up, patient right on screen left; coronal superior up, right
    # on the left; sagittal superior up, anterior on the left
    for kind, view in views.items():
        row, col = bright_centroid(grab(view))
        assert row < 0.5 and col < 0.5, (kind, row, col)
    ctl.set_convention("neurological")
    settle(qtbot)
    for kind, view in views.items():
        row, col = bright_centroid(grab(view))
        right_on_right = kind in ("axial", "coronal")  # sagittal keeps anterior on the left
        assert row < 0.5 and (col > 0.5) == right_on_right, (kind, row, col)


@pytest.mark.parametrize("convention, expect", [
    ("radiological", {"axial": "APRL", "coronal": "SIRL", "sagittal": "SIAP"}),
    ("neurological", {"axial": "APLR", "coronal": "SILR", "sagittal": "SIAP"}),
])
def test_orientation_letters_and_scale_bar_in_mm(ws, qtbot, convention, expect):
    ws.ctl.set_convention(convention)
    settle(qtbot)
    for view in ws.ctl.views:
        ov = view.model.canvas.overlays
        got = "".join(ov["nora_orientation"].letters)  # top, bottom, left, right
        assert got == expect[view.kind], view.kind
        assert ov["scale_bar"].visible
        assert str(view.model.layers.extent.units[-1]) == "millimeter"  # bar in mm


def test_crosshair_drawn_at_the_shared_point_in_every_2d_view(ws, qtbot):
    ctl = ws.ctl
    ctl.state.set_axes([0, 1, 2], (-10.0, 5.0, -12.0))
    settle(qtbot)
    def drawn(view):
        x, y = world_to_px(view, ctl.state.position)
        shot = grab(view)
        rgb = shot[..., :3].astype(int)
        # yellow over the gray image: red and green well above blue; the 1.5 px line is
        # antialiased, so where it falls between two pixels each holds a blend, not pure yellow
        yellow = (np.minimum(rgb[..., 0], rgb[..., 1]) - rgb[..., 2]) > 60
        cx, cy = int(round(x)), int(round(y))
        column = yellow[:, cx - 2:cx + 3].any(axis=1).mean() > 0.5
        row = yellow[cy - 2:cy + 3, :].any(axis=0).mean() > 0.5
        return column and row

    for view in ctl.views:
        assert view.crosshair.visible and view.crosshair.point == ctl.state.position
        # the canvas repaints asynchronously: a loaded machine may need more than one frame
        qtbot.waitUntil(lambda view=view: drawn(view), timeout=5000)
    ws.widget._crosshair.setChecked(False)
    assert not any(v.crosshair.visible for v in ctl.views)
    ws.widget._crosshair.setChecked(True)


def test_views_share_data_and_appearance_and_shift_makes_it_per_view(ws, qtbot):
    ctl, layer = ws.ctl, ws.image
    ctl.state.layout = "2x2"
    settle(qtbot)
    mirrors = {v.kind: v.mirrors_of(layer)[0] for v in ctl.views[1:]}
    assert len(mirrors) == 3 and all(m.data is layer.data for m in mirrors.values())
    layer.colormap = "magma"
    layer.contrast_limits = (50, 500)
    layer.opacity = 0.8
    assert all(m.colormap.name == "magma" and m.contrast_limits == [50, 500]
               and m.opacity == pytest.approx(0.8) for m in mirrors.values())
    # Shift held while changing: only the active view (the coronal, clicked last)
    coronal = ctl.view_of_kind("coronal")
    size = coronal.qt_viewer.canvas.native.size()
    click(coronal, (size.width() / 2, size.height() / 2))
    assert "(coronal)" in ws.widget._active.text()
    window = ws.viewer.window._qt_window.windowHandle()
    QTest.keyPress(window, Qt.Key.Key_Shift, Qt.KeyboardModifier.ShiftModifier)
    try:
        layer.colormap = "viridis"
    finally:
        QTest.keyRelease(window, Qt.Key.Key_Shift, Qt.KeyboardModifier.NoModifier)
    settle(qtbot)
    assert mirrors["coronal"].colormap.name == "viridis"
    assert mirrors["sagittal"].colormap.name == "magma" and mirrors["3d"].colormap.name == "magma"
    assert layer.colormap.name == "magma"  # the main (axial) view keeps it too
    layer.colormap = "gray"  # without Shift: every view again
    assert {m.colormap.name for m in mirrors.values()} == {"gray"}


def test_click_in_coronal_moves_the_other_views_to_that_point(ws, qtbot):
    from tests.workspace.helpers import white_centroid_px

    ctl = ws.ctl
    ctl.state.set_axes([0, 1, 2], [-10.0, 12.0, -10.0])  # coronal through the block only
    settle(qtbot)
    coronal = ctl.view_of_kind("coronal")
    x, y = white_centroid_px(grab(coronal))
    ratio = coronal.qt_viewer.canvas.native.devicePixelRatioF()
    click(coronal, (x / ratio, y / ratio))
    settle(qtbot)
    s, a, r = ctl.state.position
    assert a == pytest.approx(12.0)  # the coronal slice stays
    lo, hi = MARKER_MM[0] - 0.5, MARKER_MM[1] + 0.5
    assert lo <= s <= hi and lo <= r <= hi
    # slice indices of the other views: axial slices S, sagittal slices R, both in the block
    k_axial = ctl.main.model.dims.current_step[0]
    k_sag = ctl.view_of_kind("sagittal").model.dims.current_step[2]
    assert 28 <= k_axial <= 35 and 28 <= k_sag <= 35
    assert k_axial == round(s + 20) and k_sag == round(r + 20)
    assert coronal.model.dims.current_step[1] == 32
    # the readout: RAS mm, then the voxel index and value of the image under the crosshair
    text = ws.widget._readout.text().splitlines()
    assert text[0] == f"RAS {r:.1f} {a:.1f} {s:.1f} mm"
    assert text[1] == f"phantom [{round(r + 20)} 32 {round(s + 20)}] = 1000"


def test_readout_lists_every_visible_image(ws, qtbot):
    viewer, ctl = ws.viewer, ws.ctl
    overlay = viewer.add_image(np.asarray(ws.image.data) * 2, name="double", scale=(1, 1, 1),
                               translate=(-20, -20, -20))
    try:
        ctl.state.set_axes([0, 1, 2], [12.0, 12.0, -19.0])
        settle(qtbot)
        lines = ws.widget._readout.text().splitlines()
        # (S, A, R) = (12, 12, -19) mm: display index [32 32 1] of the plain array; the
        # phantom's source voxel (i, j, k) = (R, A, S) index [1 32 32]
        assert lines[1:] == ["double [32 32 1] = 200", "phantom [1 32 32] = 100"]
        overlay.visible = False
        ctl.state.set_axes([0, 2], [11.0, 12.0])  # into the block; the hidden image drops out
        assert ws.widget._readout.text().splitlines()[1:] == ["phantom [32 32 31] = 1000"]
    finally:
        viewer.layers.remove(overlay)


def test_mosaic_click_selects_the_tiles_slice(ws, qtbot):
    ctl = ws.ctl
    ctl.state.layout = "lightbox"
    _through_marker(ctl, qtbot)
    mosaic = ctl.view_of_kind("mosaic")
    size = mosaic.qt_viewer.canvas.native.size()
    rows, cols = mosaic.model.canvas.grid.shape
    assert rows * cols >= 6 and (rows - 1) * cols < 6
    last = len(mosaic.tile_positions) - 1  # the last tile holds the top slice
    row, col = divmod(last, cols)
    click(mosaic, ((col + 0.5) / cols * size.width(), (row + 0.5) / rows * size.height()))
    settle(qtbot)
    assert ctl.state.position[0] == pytest.approx(mosaic.tile_positions[-1], abs=0.51)
    assert ctl.main.model.dims.point[0] == pytest.approx(ctl.state.position[0])


def test_mosaic_tiles_print_their_slice_position(ws, qtbot):
    """Each tile says where it cuts, as 3D Slicer's slice views do ("S: 12.5mm"), in the tile
    that shows that slice: one label per tile, in the tiles' order (bottom slice first)."""
    ctl = ws.ctl
    ctl.state.layout = "lightbox"
    _through_marker(ctl, qtbot)
    mosaic = ctl.view_of_kind("mosaic")
    overlay = mosaic.model.canvas.overlays["nora_orientation"]
    expected = [f"S: {p:.1f}mm" for p in mosaic.tile_positions]
    assert list(overlay.tile_labels) == expected and len(set(expected)) == 6
    visuals = mosaic.qt_viewer.canvas._viewer_overlay_to_visual[overlay]
    grid = mosaic.model.canvas.grid
    cells = grid.iter_viewboxes(mosaic.model.layers)
    shown = {tuple(c): v.label.text for (c, _), v in zip(cells, visuals)}
    rows, cols = grid.shape
    assert [shown[divmod(t, cols)] for t in range(6)] == expected
    # beside the top letter (A) where the tile leaves room, a line below it where it does not
    window = ws.viewer.window._qt_window
    size = window.size()
    try:
        for width, below in ((2400, False), (900, True)):
            window.resize(width, 800)
            settle(qtbot)
            for v in mosaic.qt_viewer.canvas._viewer_overlay_to_visual[overlay]:
                assert (v.label.pos[0][1] > v.node.pos[0][1] + 5) == below, width
    finally:
        window.resize(size)
        settle(qtbot)


def _cells(ctl):
    grid = ctl._grid
    return {v.kind: grid.getItemPosition(grid.indexOf(v.qt_viewer)) for v in ctl.views}


def test_ortho_views_take_the_shape_of_the_canvas(ws, qtbot):
    """Three views in a row on a wide canvas; on one narrower than 1.5:1 (a row would leave
    each a tall strip) a large axial view beside the coronal above the sagittal; the marker
    shows in every view either way."""
    window, ctl = ws.viewer.window._qt_window, ws.ctl
    size = window.size()
    try:
        for width, height, cells in (
                (1900, 560, {"axial": (0, 0, 1, 1), "coronal": (0, 1, 1, 1),
                             "sagittal": (0, 2, 1, 1)}),
                (1000, 900, {"axial": (0, 0, 2, 1), "coronal": (0, 1, 1, 1),
                             "sagittal": (1, 1, 1, 1)})):
            window.resize(width, height)
            qtbot.waitUntil(lambda c=cells: _cells(ctl) == c, timeout=5000)
            box = ctl._container
            assert (box.width() / box.height() >= 1.5) == (height == 560)
            _through_marker(ctl, qtbot)
            for view in ctl.views:
                shot = grab(view)
                assert ((shot[..., :3] > 230).all(axis=-1)).sum() > 30, (width, view.kind)
        sag = ctl.view_of_kind("sagittal").model.scene.camera
        sag.zoom, sag.center = sag.zoom * 2.5, (sag.center[0], sag.center[1] + 10, sag.center[2])
        zoomed = (sag.zoom, *sag.center)
        cor = ctl.view_of_kind("coronal").model.scene.camera
        fitted = cor.zoom
        window.resize(1900, 560)  # the zoomed view keeps its camera, the other is fitted again
        qtbot.waitUntil(lambda: _cells(ctl)["sagittal"] == (0, 2, 1, 1), timeout=5000)
        qtbot.waitUntil(lambda: cor.zoom != fitted, timeout=5000)
        assert (sag.zoom, *sag.center) == pytest.approx(zoomed)
        window.resize(1000, 900)
        qtbot.waitUntil(lambda: _cells(ctl)["sagittal"] == (1, 1, 1, 1), timeout=5000)
        ws.viewer.dims.ndisplay = 3  # the views are placed again, not rebuilt: 3D stays
        window.resize(1900, 560)
        qtbot.waitUntil(lambda: _cells(ctl)["sagittal"] == (0, 2, 1, 1), timeout=5000)
        assert ws.viewer.dims.ndisplay == 3 and ctl.state.layout == "ortho"
    finally:
        ws.viewer.dims.ndisplay = 2
        window.resize(size)
        settle(qtbot)
