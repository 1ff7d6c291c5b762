"""Writers: labels back onto the source grid, images, points in RAS mm."""

import json

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Labels, Layer, Points

from napari_nora import writers
from napari_nora.readers import read
from tests.helpers import AFFINES, marker_volume, world_of_voxel


def open_layer(path):
    (t,) = read(path)
    return Layer.create(*t)


def labels_on(image):
    """An empty Labels layer on an image's display grid, as the ROI tool creates it."""
    return Labels(np.zeros(image.data.shape, np.uint8), scale=image.scale,
                  translate=image.translate, metadata=dict(image.metadata))


@pytest.mark.parametrize("name", [k for k in AFFINES if "oblique" not in k])
def test_open_paint_save_reopen_is_voxel_identical(tmp_path, name):
    aff = AFFINES[name]
    nib.save(nib.Nifti1Image(marker_volume(), aff), tmp_path / "img.nii.gz")
    image = open_layer(tmp_path / "img.nii.gz")
    lab = labels_on(image)
    lab.paint((5, 6, 7), 4, refresh=False)  # a sphere of label 4 around display voxel (5,6,7)
    lab.data[1:3, 2:4, 3:5] = 2
    out = tmp_path / "roi.nii.gz"
    writers.write_labels(str(out), lab.data, lab._get_state())
    saved = nib.load(out)
    np.testing.assert_allclose(saved.affine, aff, atol=1e-6)
    assert saved.shape == image.metadata["source_shape"]
    assert saved.get_data_dtype() == np.uint8
    back = open_layer(out)
    np.testing.assert_array_equal(np.asarray(back.data), lab.data)
    np.testing.assert_allclose(back.scale, lab.scale)
    np.testing.assert_allclose(back.translate, lab.translate)


@pytest.mark.parametrize("name", ["oblique", "oblique_permuted"])
def test_label_on_oblique_image_saves_onto_its_own_grid(tmp_path, name):
    aff = AFFINES[name]
    shape = (24, 20, 16)
    nib.save(nib.Nifti1Image(marker_volume(shape), aff), tmp_path / "obl.nii.gz")
    image = open_layer(tmp_path / "obl.nii.gz")
    lab = labels_on(image)
    lab.data[8:14, 9:15, 6:12] = 1
    out = tmp_path / "roi.nii.gz"
    writers.write_labels(str(out), lab.data, lab._get_state())
    saved = nib.load(out)
    assert saved.shape == shape
    np.testing.assert_allclose(saved.affine, aff, atol=1e-6)
    # exactly the source voxels whose centres lie in painted display voxels are ON
    src = np.asarray(saved.dataobj)
    ijk = np.indices(shape).reshape(3, -1)
    ras = (aff @ np.r_[ijk, np.ones((1, ijk.shape[1]))])[:3]
    disp = np.linalg.inv(image.metadata["disp2ras"]) @ np.r_[ras, np.ones((1, ras.shape[1]))]
    d = np.rint(disp[:3]).astype(int)
    inside = np.all((d >= 0) & (d < np.array(lab.data.shape)[:, None]), axis=0)
    expected = np.zeros(ijk.shape[1], np.uint8)
    expected[inside] = lab.data[tuple(d[:, inside])]
    np.testing.assert_array_equal(src.reshape(-1), expected)
    assert expected.sum() > 50


def test_image_round_trip(tmp_path):
    aff = AFFINES["coronal_permuted"]
    vol = marker_volume()
    nib.save(nib.Nifti1Image(vol, aff), tmp_path / "img.nii.gz")
    image = open_layer(tmp_path / "img.nii.gz")
    writers.write_image(str(tmp_path / "copy.nii.gz"), image.data, image._get_state())
    saved = nib.load(tmp_path / "copy.nii.gz")
    np.testing.assert_array_equal(np.asarray(saved.dataobj), vol)
    np.testing.assert_allclose(saved.affine, aff, atol=1e-6)


def test_points_saved_in_ras_mm(tmp_path):
    aff = AFFINES["sagittal_permuted"]
    nib.save(nib.Nifti1Image(marker_volume(), aff), tmp_path / "img.nii.gz")
    image = open_layer(tmp_path / "img.nii.gz")
    vox = np.array([[17, 5, 11], [0, 0, 0]])
    disp = (np.linalg.inv(image.metadata["disp2vox"]) @ np.c_[vox, np.ones(2)].T).T[:, :3]
    pts = Points(disp, scale=image.scale, translate=image.translate)
    writers.write_points(str(tmp_path / "p.json"), pts.data, pts._get_state())
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["space"] == "RAS" and doc["units"] == "mm"
    for v, p in zip(vox, doc["points"]):
        np.testing.assert_allclose(p["position"], world_of_voxel(aff, v), atol=1e-5)
