"""The ROI tool in napari (pytest-qt under Xvfb): ROI list, pens by mouse, undo, operations,
statistics window and CSV, saving on the reference's grid."""

import numpy as np
import pytest
import nibabel as nib
from napari.layers import Image

from napari_nora import geometry, roi
from napari_nora.readers.layers import volume_layer
from napari_nora.widgets.roi_layers import index_to_world, mask_of
from napari_nora.widgets.roi_stats import compute_rows
from napari_nora.widgets.roi_tool import RoiTool
from tests.helpers import make_affine

AFFINE = make_affine(zooms=(0.8, 0.8, 2.0), perm=(0, 1, 2), flips=(-1, 1, 1),
                     origin=(10.0, -20.0, 5.0))


class Drag:
    """A mouse press/move/release at world positions, as napari hands drag callbacks."""

    def __init__(self, position, button=1, modifiers=()):
        self.position, self.button, self.modifiers = tuple(position), button, modifiers
        self.type = "mouse_press"


def drag(layer, callback, world_points, **kw):
    ev = Drag(world_points[0], **kw)
    gen = callback(layer, ev)
    if gen is None:
        return
    try:
        next(gen)
        for p in world_points[1:]:
            ev.type, ev.position = "mouse_move", tuple(p)
            next(gen)
        ev.type = "mouse_release"
        next(gen)
    except StopIteration:
        pass


def world_of(layer, index):
    return tuple((index_to_world(layer) @ np.append(np.asarray(index, float), 1))[:3])


@pytest.fixture
def tool(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    vol = np.full((30, 40, 12), 100, np.int16)  # source voxels (i, j, k)
    vol[8:22, 10:30, 3:9] = 500
    data, kwargs, _ = volume_layer(vol, AFFINE, name="t1", contrast_limits=(300, 600))
    viewer.add_layer(Image(data, **kwargs))
    widget = RoiTool(viewer)
    qtbot.addWidget(widget)
    return widget


def test_new_roi_thresholded_at_the_lower_window_limit(tool):
    layer = tool.new_roi(thresholded=True)
    image = tool._viewer.layers["t1"]
    np.testing.assert_array_equal(mask_of(layer), np.asarray(image.data) >= 300)
    assert layer.scale.tolist() == image.scale.tolist()
    assert tool.roi_list.count() == 1 and "mL" in tool.roi_list.item(0).text()
    empty = tool.new_roi()
    assert not mask_of(empty).any() and tool.current_roi() is empty


def test_left_draws_right_erases_shift_suspends_and_undo_redo(tool):
    layer = tool.new_roi()
    cb = tool.drawing.drag
    tool.settings.radius_mm = 2.0
    z = 4
    drag(layer, cb, [world_of(layer, (z, 10, 5)), world_of(layer, (z, 10, 25))])
    m = mask_of(layer)
    assert m[z, 10, 5:26].all() and m[z].sum() == m.sum()
    drawn = m.copy()
    drag(layer, cb, [world_of(layer, (z, 10, 15))], button=2)  # erase a dab
    assert not m[z, 10, 15] and m.sum() < drawn.sum()
    before = m.copy()
    drag(layer, cb, [world_of(layer, (z, 20, 20))], modifiers=("Shift",))
    np.testing.assert_array_equal(m, before)
    assert tool.undo()
    np.testing.assert_array_equal(m, drawn)
    assert tool.undo() and not m.any()
    assert tool.redo() and tool.redo()
    np.testing.assert_array_equal(m, before)
    tool.drawing.toggle_drawing()  # Space
    assert not tool.drawing_box.isChecked() and layer.mouse_pan
    drag(layer, cb, [world_of(layer, (z, 30, 30))])
    np.testing.assert_array_equal(m, before)


def test_threshold_rgrow_pen_uses_the_window_and_the_reference_image(tool):
    layer = tool.new_roi()
    tool.pen.setCurrentText("threshold higher RGrow")
    tool.settings.radius_mm = 50.0
    image = np.asarray(tool._viewer.layers["t1"].data)
    centre = tuple(int(c) for c in np.argwhere(image >= 300).mean(axis=0))
    drag(layer, tool.drawing.drag, [world_of(layer, centre)])
    m = mask_of(layer)
    assert m.sum() == (image[centre[0]] >= 300).sum()  # the whole bright slab of that slice


def test_region_growing_tolerance_follows_the_drag(tool):
    layer = tool.new_roi()
    tool.pen.setCurrentText("region growing")
    tool.settings.tolerance = 0.1  # 30 units of the (300, 600) window
    image = np.asarray(tool._viewer.layers["t1"].data)
    seed = tuple(int(c) for c in np.argwhere(image >= 300).mean(axis=0))
    w0 = world_of(layer, seed)
    drag(layer, tool.drawing.drag, [w0])
    assert mask_of(layer).sum() == (image >= 300).sum()
    tool.undo()
    far = list(seed)
    far[2] += 200  # +200 voxels to the right: tolerance + 2 windows -> everything
    drag(layer, tool.drawing.drag, [w0, world_of(layer, far)])
    assert mask_of(layer).all()
    assert len(tool.drawing.history(layer).step_sizes()) == 1


def test_operations_and_statistics_window_with_csv(tool, tmp_path):
    layer = tool.new_roi(thresholded=True)
    n0 = mask_of(layer).sum()
    tool.apply_operation("erode")
    assert 0 < mask_of(layer).sum() < n0
    tool.undo()
    assert mask_of(layer).sum() == n0
    win = tool.show_stats()
    (row,) = win.rows
    image = tool._viewer.layers["t1"]
    expect = roi.roi_stats(mask_of(layer), np.asarray(image.data),
                           affine_roi=index_to_world(layer))
    assert row["mean"] == pytest.approx(500) and row["volume_ml"] == pytest.approx(
        expect["volume_ml"])
    assert win.table.rowCount() == 1
    path = win.export_csv(tmp_path / "stats.csv")
    assert open(path).read().splitlines()[0].startswith("roi,image,voxels")
    assert compute_rows(tool._viewer)[0]["voxels"] == n0


def test_roi_on_an_oblique_image_is_saved_on_the_oblique_source_grid(make_napari_viewer, qtbot,
                                                                     tmp_path):
    from tests.helpers import rotation

    viewer = make_napari_viewer()
    aff = make_affine(zooms=(1.0, 1.2, 2.0), rot=rotation(12, -8, 20), origin=(5.0, -3.0, 2.0))
    vol = np.full((24, 20, 10), 100, np.int16)
    vol[6:18, 5:15, 2:8] = 500
    data, kwargs, _ = volume_layer(vol, aff, name="oblique", contrast_limits=(300, 600))
    viewer.add_layer(Image(data, **kwargs))
    tool = RoiTool(viewer)
    qtbot.addWidget(tool)
    layer = tool.new_roi(thresholded=True)
    (path,) = tool.save(tmp_path / "roi.nii.gz")
    img = nib.load(path)
    np.testing.assert_allclose(img.affine, aff)
    assert img.shape == vol.shape
    saved = np.asarray(img.dataobj) > 0
    inner = np.zeros(vol.shape, bool)
    inner[7:17, 6:14, 3:7] = True  # one voxel inside the block: exact after two resamplings
    assert saved[inner].all() and not saved[0:4, 0:3, 0:1].any()
    assert abs(int(saved.sum()) - int((vol >= 300).sum())) < 0.25 * (vol >= 300).sum()
    assert np.asarray(layer.data).any()


def test_roi_saved_and_reopened_is_voxel_identical_on_the_reference_grid(tool, tmp_path):
    layer = tool.new_roi(thresholded=True)
    (path,) = tool.save(tmp_path / "roi.nii.gz")
    img = nib.load(path)
    np.testing.assert_allclose(img.affine, AFFINE)
    geom = geometry.display_geometry(AFFINE, (30, 40, 12))
    expect = geometry.labels_to_source(np.asarray(layer.data), geom, (30, 40, 12))
    np.testing.assert_array_equal(np.asarray(img.dataobj), expect)
    assert np.asarray(img.dataobj)[8:22, 10:30, 3:9].all()
    # reopened through our reader, adopted as an ROI: the same voxels on the same grid
    from napari.layers import Layer

    from napari_nora.readers import read

    (t,) = read(path)
    reopened = tool._viewer.add_layer(Layer.create(*t))
    tool._viewer.layers.selection.active = reopened
    assert tool.adopt_selected() is reopened and tool.roi_list.count() == 2
    np.testing.assert_array_equal(mask_of(reopened), mask_of(layer))
    np.testing.assert_allclose(index_to_world(reopened), index_to_world(layer))


@pytest.mark.parametrize("suffix", [".seg.nrrd", ".nrrd", ".nii.gz"])
def test_export_on_the_source_grid_reopens_identical(tool, tmp_path, suffix):
    """Export writes the ROI on the reference's source grid; a Slicer segmentation keeps the
    ROI's name as its segment name; our reader gives back the same voxels in the same place."""
    import nrrd

    from napari_nora.readers import read

    layer = tool.new_roi(thresholded=True)
    layer.name = "lesion"
    (path,) = tool.export(tmp_path / f"lesion{suffix}")
    (t,) = read(path)
    assert t[2] == ("labels" if suffix != ".nrrd" else "image")
    np.testing.assert_array_equal(np.asarray(t[0]) != 0, mask_of(layer))
    np.testing.assert_allclose(t[1]["scale"], layer.scale)
    np.testing.assert_allclose(t[1]["translate"], layer.translate)
    np.testing.assert_allclose(t[1]["metadata"]["affine_vox2ras"], AFFINE, atol=1e-6)
    if suffix.endswith("nrrd"):
        header = nrrd.read_header(str(path))
        assert header["space"] == "left-posterior-superior"
    if suffix == ".seg.nrrd":
        assert list(t[1]["features"]["name"]) == ["background", "lesion"]


def test_polygon_from_a_shapes_layer_fills_its_slice(tool):
    layer = tool.new_roi()
    z = 5
    square = [world_of(layer, (z, r, c)) for r, c in [(2, 2), (2, 12), (12, 12), (12, 2)]]
    tool._viewer.add_shapes([np.array(square)], shape_type="polygon")
    tool.roi_list.setCurrentRow(0)
    assert tool.fill_polygons() == 1
    m = mask_of(layer)
    assert m[z, 2:13, 2:13].all() and m.sum() == 121


def test_polygon_pen_fills_the_traced_outline_in_its_slice(tool):
    """Press, trace, release: the voxels whose centres the outline encloses, in the slice it
    was traced in (the preview shows them while tracing); right erases; a click draws nothing;
    each outline one undo step."""
    layer = tool.new_roi()
    tool.settings.pen = "polygon"
    z = 5
    outline = [world_of(layer, (z, r, c)) for r, c in
               [(1.5, 1.5), (1.5, 7), (1.5, 12.5), (12.5, 12.5), (12.5, 1.5)]]
    ev = Drag(outline[0])
    gen = tool.drawing.drag(layer, ev)
    next(gen)
    for p in outline[1:]:
        ev.type, ev.position = "mouse_move", p
        next(gen)
    prev = tool._viewer.layers["ROI pen preview"]
    assert prev.visible and prev.data.sum() == 121 and not mask_of(layer).any()
    ev.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    m = mask_of(layer)
    assert not prev.visible and m[z, 2:13, 2:13].all() and m.sum() == 121
    hole = [world_of(layer, (z, r, c)) for r, c in [(4.5, 4.5), (4.5, 8.5), (8.5, 8.5), (8.5, 4.5)]]
    drag(layer, tool.drawing.drag, hole, button=2)
    assert m.sum() == 121 - 16 and not m[z, 5:9, 5:9].any()
    drag(layer, tool.drawing.drag, [world_of(layer, (z, 20, 20))])  # a click
    assert m.sum() == 121 - 16
    tool.drawing.undo(layer)
    assert m.sum() == 121
    tool.drawing.undo(layer)
    assert not m.any()


def test_focus_moves_the_viewer_to_the_centre_of_gravity(tool):
    layer = tool.new_roi()
    mask_of(layer)[6, 20, 25] = True
    tool.focus()
    np.testing.assert_allclose(tool._viewer.dims.point[-3:], world_of(layer, (6, 20, 25)))


def test_live_preview_shows_the_pen_under_the_cursor_without_drawing(tool):
    layer = tool.new_roi()
    tool.settings.radius_mm = 2.0
    ev = Drag(world_of(layer, (4, 20, 15)))
    ev.type = "mouse_move"
    tool.drawing.hover(layer, ev)
    viewer = tool._viewer
    prev = viewer.layers["ROI pen preview"]
    assert prev.visible and prev.data.sum() == roi.brush(mask_of(layer), (4, 20, 15), radius=2.0,
                                                        spacing=layer.scale, axis=0).count
    assert viewer.layers.selection.active is layer and not mask_of(layer).any()
    np.testing.assert_allclose(prev.data_to_world((0, 2, 2)), world_of(layer, (4, 20, 15)),
                               atol=1e-4)  # preview centre sits on the cursor voxel
    assert tool.roi_list.count() == 1  # the preview is not an ROI
    tool.preview.setChecked(False)
    tool.drawing.hover(layer, ev)
    assert not prev.visible


def test_dock_set_operations_clear_and_delete(tool):
    viewer = tool._viewer
    viewer.window.add_dock_widget(tool, name="ROI tool")
    a = tool.new_roi()
    b = tool.new_roi()
    mask_of(a)[4, 5:10, 5:10] = True
    mask_of(b)[4, 8:12, 8:12] = True
    tool.roi_list.setCurrentRow(0)
    assert viewer.layers.selection.active is a
    tool.operand.setCurrentText(b.name)
    tool.operation.setCurrentText("union with")
    assert tool.apply_operation()
    assert mask_of(a).sum() == 25 + 16 - 4
    assert tool.apply_operation("subtract") and mask_of(a).sum() == 25 - 4
    tool.clear()
    assert not mask_of(a).any()
    assert tool.undo() and mask_of(a).sum() == 21
    tool.delete()
    assert a not in viewer.layers and tool.roi_list.count() == 1


def test_keys_opacity_outline_visibility_and_statistics_follow_edits(tool, qtbot):
    """Space and Ctrl-Z / Shift-Ctrl-Z typed on the canvas; opacity, outline and show/hide reach
    the ROI layers; the statistics window follows strokes and undo by itself."""
    from qtpy.QtCore import Qt

    viewer = tool._viewer
    viewer.window.add_dock_widget(tool, name="ROI tool")
    viewer.window._qt_window.show()
    layer = tool.new_roi()
    win = tool.show_stats()
    qtbot.addWidget(win)
    assert win.rows[0]["voxels"] == 0
    tool.settings.radius_mm = 2.0
    drag(layer, tool.drawing.drag, [world_of(layer, (4, 10, 5)), world_of(layer, (4, 10, 25))])
    n = int(mask_of(layer).sum())
    qtbot.waitUntil(lambda: win.rows[0]["voxels"] == n, timeout=5000)

    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not mask_of(layer).any()
    qtbot.waitUntil(lambda: win.rows[0]["voxels"] == 0, timeout=5000)
    qtbot.keyClick(canvas, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert mask_of(layer).sum() == n
    assert tool.settings.drawing
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert not tool.settings.drawing and layer.mouse_pan and not tool.drawing_box.isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_Space)
    assert tool.settings.drawing and not layer.mouse_pan

    tool.opacity.setValue(30)
    tool.outline.setChecked(True)
    assert layer.opacity == pytest.approx(0.3) and layer.contour == 1
    tool.toggle_visible()
    assert not layer.visible
    tool.toggle_visible()
    assert layer.visible


def test_each_roi_has_its_own_colour_and_script_settings_show_in_the_controls(tool):
    a, b = tool.new_roi(), tool.new_roi()
    ca, cb = a.colormap.map(np.array([1]))[0], b.colormap.map(np.array([1]))[0]
    assert not np.allclose(ca, cb) and ca[3] == cb[3] == 1
    assert a.colormap.map(np.array([0]))[0][3] == 0  # off voxels stay transparent
    tool.settings.radius_mm = 7.5
    tool.settings.pen = "magic connected"
    tool.settings.preview = False
    assert tool.radius.value() == 7.5 and tool.pen.currentText() == "magic connected"
    assert not tool.preview.isChecked()
    tool.radius.setValue(2.0)  # and the other way round
    assert tool.settings.radius_mm == 2.0
