"""ROI saved into a real archive (SQLite and MariaDB): the study its reference image came from,
on the reference's source grid, with rights checked and overwrite asked for."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from nora_server.archive import AddItem
from nora_server.config import Settings, write_settings
from napari_nora import geometry
from napari_nora.widgets.desktop_context import ARCHIVE_KEY
from napari_nora.widgets.roi_archive import archive_path
from napari_nora.widgets.roi_layers import mask_of
from napari_nora.widgets.roi_tool import RoiTool
from tests.helpers import make_affine, rotation
from tests.server.conftest import database_url, new_archive

#: a flipped, permuted source grid (display order differs from file order) and an oblique one
AFFINES = {
    "permuted": make_affine(zooms=(0.9, 1.1, 2.5), perm=(1, 2, 0), flips=(1, -1, 1),
                            origin=(12.0, 40.0, -8.0)),
    "oblique": make_affine(zooms=(1.0, 1.2, 2.0), rot=rotation(18, 0, 9), origin=(-5, 7, 3)),
}


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def site(request, tmp_path_factory):
    """A real archive: project ``demo`` (member ``mia``, reader ``rex``), its nora.toml."""
    tmp = tmp_path_factory.mktemp(f"roi-archive-{request.param}")
    url, drop = database_url(request.param, tmp)
    archive, admin = new_archive(url, tmp)
    for user, role in (("mia", "member"), ("rex", "reader")):
        admin.create_user(user)
        admin.grant(user, "demo", role)
    config = write_settings(Settings(database=url, storage=archive.storage), tmp / "nora.toml")
    yield admin, config
    archive.dispose()
    drop()


def _open_from_archive(viewer, admin, config, tmp_path, affine, user):
    """Add a reference scan to study P001#S1 and open it as the desktop does (origin entry)."""
    vol = np.full((20, 16, 12), 50, np.int16)
    vol[5:14, 4:12, 3:9] = 400
    src = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(vol, affine), src)
    (info,) = admin.add_files("demo", [AddItem(src, "P001#S1", "t1/t1.nii.gz")], overwrite=True)
    (layer,) = viewer.open(str(info.abspath), plugin="napari-nora")
    layer.metadata[ARCHIVE_KEY] = {"project": "demo", "ref": "P001#S1", "path": "t1/t1.nii.gz",
                                   "config": str(config), "user": user}
    return layer


def _save(qtbot, tool, saves=1, **kw):
    """Start a save and wait for ``saves`` saves to finish (a replace after a question is a
    second one)."""
    n = tool.archive_saves
    tool.save_to_archive(**kw)
    qtbot.waitUntil(lambda: tool.archive_saves >= n + saves, timeout=30000)


@pytest.mark.parametrize("grid", sorted(AFFINES))
def test_roi_saved_to_the_study_on_the_source_grid_and_reopened(site, make_napari_viewer, qtbot,
                                                                tmp_path, grid):
    admin, config = site
    viewer = make_napari_viewer()
    image = _open_from_archive(viewer, admin, config, tmp_path, AFFINES[grid], "mia")
    tool = RoiTool(viewer)
    qtbot.addWidget(tool)
    layer = tool.new_roi()
    layer.name = f"lesion {grid}"
    assert "demo: P001#S1" in tool.roi_list.item(0).text()
    assert tool.archive_button.isEnabled()
    new = np.zeros(layer.data.shape, bool)
    new[3:9, 4:10, 5:8] = True
    tool.drawing.apply(layer, new)

    _save(qtbot, tool)
    assert tool.last_archive_error is None
    (saved,) = admin.select_files("demo", f"rois/lesion_{grid}*", ref="P001#S1", tags=["roi"])
    assert saved.path == archive_path(layer.name) == f"rois/lesion_{grid}.nii.gz"
    img = nib.load(saved.abspath)
    np.testing.assert_allclose(img.affine, AFFINES[grid], atol=1e-5)
    assert img.shape == (20, 16, 12)
    meta = image.metadata
    g = geometry.DisplayGeometry(meta["disp2vox"], meta["disp2ras"], new.shape, meta["oblique"])
    np.testing.assert_array_equal(np.asarray(img.dataobj) != 0,
                                  geometry.labels_to_source(new, g, (20, 16, 12)))
    if grid == "permuted":  # aligned: the reopened ROI is voxel-identical in the viewer
        (back,) = viewer.open(str(saved.abspath), plugin="napari-nora")
        np.testing.assert_array_equal(np.asarray(back.data) != 0, mask_of(layer))
        np.testing.assert_allclose(back.scale, layer.scale)
        np.testing.assert_allclose(back.translate, layer.translate)


def test_existing_roi_is_replaced_only_when_the_user_says_so(site, make_napari_viewer, qtbot,
                                                             tmp_path, monkeypatch):
    admin, config = site
    viewer = make_napari_viewer()
    _open_from_archive(viewer, admin, config, tmp_path, AFFINES["permuted"], "mia")
    tool = RoiTool(viewer)
    qtbot.addWidget(tool)
    layer = tool.new_roi()
    layer.name = "twice"
    first = np.zeros(layer.data.shape, bool)
    first[2:4, 2:4, 2:4] = True
    tool.drawing.apply(layer, first)
    _save(qtbot, tool, overwrite=True)  # there from an earlier back end, maybe
    (info,) = admin.select_files("demo", "rois/twice.nii.gz", ref="P001#S1")
    before = np.asarray(nib.load(info.abspath).dataobj).copy()

    tool.drawing.apply(layer, ~first)
    answers = []
    monkeypatch.setattr(tool, "_confirm", lambda q: answers.append(q) or False)
    _save(qtbot, tool)
    assert answers and "exists already" in answers[0]
    np.testing.assert_array_equal(np.asarray(nib.load(info.abspath).dataobj), before)
    assert "not saved" in viewer.status

    monkeypatch.setattr(tool, "_confirm", lambda q: True)
    _save(qtbot, tool, saves=2)  # the refused save, then the one that replaces
    assert tool.last_archive_error is None
    (info,) = admin.select_files("demo", "rois/twice.nii.gz", ref="P001#S1")
    assert np.asarray(nib.load(info.abspath).dataobj).sum() == before.size - before.sum()


def test_reader_gets_a_clear_error_and_nothing_is_written(site, make_napari_viewer, qtbot,
                                                          tmp_path):
    admin, config = site
    viewer = make_napari_viewer()
    _open_from_archive(viewer, admin, config, tmp_path, AFFINES["permuted"], "rex")
    tool = RoiTool(viewer)
    qtbot.addWidget(tool)
    layer = tool.new_roi(thresholded=True)
    layer.name = "readonly"
    _save(qtbot, tool)
    err = str(tool.last_archive_error)
    assert "'rex' may not save into project 'demo'" in err and "reader" in err
    assert "may not save" in viewer.status
    assert admin.select_files("demo", "rois/readonly*") == []


def test_roi_of_a_local_image_offers_no_archive_save(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    p = tmp_path / "local.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.int16), np.eye(4)), p)
    viewer.open(str(p), plugin="napari-nora")
    tool = RoiTool(viewer)
    qtbot.addWidget(tool)
    tool.new_roi()
    assert not tool.archive_button.isEnabled()
    assert "local.nii.gz" in tool.roi_list.item(0).text()
    assert tool.save_to_archive() is None and "Save..." in viewer.status
