"""napari under Xvfb: files open through the plugin, where the scanner put them, in the
radiological convention by default, with CT window keys."""

import warnings

import nibabel as nib
import numpy as np
import pytest

from napari_nora import display, settings
from napari_nora.viewer_hook import apply_orientation, set_ct_window


@pytest.fixture
def ras_phantom(tmp_path):
    """40 mm cube head, 1 mm voxels, a bright block in the right-anterior-superior octant."""
    vol = np.full((40, 40, 40), 100, np.int16)
    vol[28:36, 28:36, 28:36] = 1000
    aff = np.eye(4)
    aff[:3, 3] = -20
    p = tmp_path / "phantom.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), p)
    return p


def bright_centroid(img):
    """Centroid (row, col) of the bright pixels of a screenshot, as fractions of its size."""
    grey = img[..., :3].mean(axis=-1)
    ys, xs = np.nonzero(grey > 0.8 * grey.max())
    return ys.mean() / grey.shape[0], xs.mean() / grey.shape[1]


def test_axial_radiological_anterior_up_right_on_left(make_napari_viewer, ras_phantom):
    viewer = make_napari_viewer(show=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-orthogonal slicing" or other warning
        (layer,) = viewer.open(str(ras_phantom), plugin="napari-nora")
    layer.contrast_limits = (0, 1000)
    viewer.dims.set_point(0, 12.0)  # S = 12 mm: through the bright block (S 8..15)
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot[..., :3].std() > 10  # real content, not a black canvas
    row, col = bright_centroid(shot)
    assert row < 0.5 and col < 0.5  # anterior up, patient right on screen left

    settings.save(convention="neurological")
    try:
        apply_orientation(viewer)
        row, col = bright_centroid(viewer.screenshot(canvas_only=True, flash=False))
        assert row < 0.5 and col > 0.5  # neurological: patient right on screen right
    finally:
        settings.save(convention="radiological")


def test_coronal_and_sagittal_superior_up(make_napari_viewer, ras_phantom):
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(ras_phantom), plugin="napari-nora")
    layer.contrast_limits = (0, 1000)
    viewer.dims.order = (1, 0, 2)  # coronal: slice along A, show (S, R)
    viewer.dims.set_point(1, 12.0)
    viewer.reset_view()
    row, col = bright_centroid(viewer.screenshot(canvas_only=True, flash=False))
    assert row < 0.5 and col < 0.5  # superior up, right on the left
    viewer.dims.order = (2, 0, 1)  # sagittal: slice along R, show (S, A)
    viewer.dims.set_point(2, 12.0)
    viewer.reset_view()
    row, col = bright_centroid(viewer.screenshot(canvas_only=True, flash=False))
    assert row < 0.5 and col < 0.5  # superior up, anterior on the left


def test_ct_window_keys(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    ct = np.random.default_rng(0).integers(-1000, 2000, (30, 30, 30)).astype(np.int16)
    nib.save(nib.Nifti1Image(ct, np.eye(4)), tmp_path / "ct.nii.gz")
    (layer,) = viewer.open(str(tmp_path / "ct.nii.gz"), plugin="napari-nora")
    for key, (_, level, width) in display.CT_WINDOWS.items():
        viewer.keymap[key](viewer) if key in viewer.keymap else set_ct_window(viewer, key)
        assert layer.contrast_limits == pytest.approx(display.window_limits(level, width))
    set_ct_window(viewer, "0")
    lo, hi = layer.contrast_limits
    assert -1000 < lo < -900 and 1900 < hi < 2000


def test_overlay_gets_colormap_and_opacity(make_napari_viewer, ras_phantom):
    viewer = make_napari_viewer()
    viewer.open(str(ras_phantom), plugin="napari-nora")
    (over,) = viewer.open(str(ras_phantom), plugin="napari-nora")
    assert over.colormap.name != "gray" and over.opacity == pytest.approx(0.5)


def test_sample_data_opens(make_napari_viewer):
    viewer = make_napari_viewer()
    for key in ("brain", "fmri", "oblique", "ct"):
        layers = viewer.open_sample("napari-nora", key)
        assert layers and all(np.asarray(lyr.data_to_world([0] * lyr.ndim)).size == lyr.ndim
                              for lyr in layers)


def test_napari_new_labels_saves_on_the_source_grid(make_napari_viewer, tmp_path):
    from tests.helpers import AFFINES, marker_volume

    aff = AFFINES["sagittal_permuted"]
    nib.save(nib.Nifti1Image(marker_volume(), aff), tmp_path / "img.nii.gz")
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(tmp_path / "img.nii.gz"), plugin="napari-nora")
    viewer.layers.selection.active = image
    viewer._new_labels()  # the "new labels layer" button
    labels = viewer.layers[-1]
    labels.data[3:6, 4:8, 5:9] = 1
    out = tmp_path / "roi.nii.gz"
    labels.save(str(out), plugin="napari-nora")
    saved = nib.load(out)
    np.testing.assert_allclose(saved.affine, aff, atol=1e-6)
    assert saved.shape == image.metadata["source_shape"]
    assert int(np.asarray(saved.dataobj).sum()) == 3 * 4 * 4


def test_main_command_builds_the_viewer(make_napari_viewer, tmp_path, ras_phantom):
    from napari_nora.__main__ import build_viewer

    viewer = build_viewer([str(ras_phantom)], show=False)
    try:
        assert [lyr.name for lyr in viewer.layers] == ["phantom"]
        assert "Display settings" in viewer.window.dock_widgets
        assert viewer.scene.camera.orientation2d == ("up", "left")
    finally:
        viewer.close()


def test_main_command_opens_the_files_after_one_that_fails(make_napari_viewer, tmp_path,
                                                          ras_phantom):
    """``napari-nora bad.nii.gz good.nii.gz photo.png``: the bad file's error is shown, the
    others open."""
    from napari.utils.notifications import notification_manager

    from napari_nora.__main__ import build_viewer

    import imageio.v3 as iio

    bad = tmp_path / "cut.nii.gz"
    bad.write_bytes(ras_phantom.read_bytes()[:300])  # a download that stopped early
    photo = tmp_path / "photo.png"  # not ours: napari's own reader opens it
    iio.imwrite(photo, np.zeros((8, 8), np.uint8))
    shown = []
    notification_manager.notification_ready.connect(shown.append)
    try:
        viewer = build_viewer([str(bad), str(ras_phantom), str(photo)], show=False)
    finally:
        notification_manager.notification_ready.disconnect(shown.append)
    try:
        assert [lyr.name for lyr in viewer.layers] == ["phantom", "photo"]
        assert [n.message for n in shown if str(bad) in n.message] == \
            [f"cannot open {bad}: cannot read voxel data: Compressed file ended before the "
             "end-of-stream marker was reached"]
    finally:
        viewer.close()


@pytest.mark.parametrize("widget", ["Display settings", "ROI tool"])
def test_plugin_widgets_open_from_the_menu(make_napari_viewer, widget):
    viewer = make_napari_viewer()
    dock, w = viewer.window.add_plugin_dock_widget("napari-nora", widget)
    assert w is not None and dock.isVisible() is not None
