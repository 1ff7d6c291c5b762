"""Real surfaces: nilearn's fsaverage5 (FreeSurfer, 10242 vertices per hemisphere) as GIFTI
surfaces and shape GIFTI, and the same real mesh written as STL the way 3D Slicer writes it."""

import shutil

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Layer
from stl import mesh

from napari_nora.readers import read


def layer_of(path):
    (t,) = read(path)
    return Layer.create(*t)


def world_ras(layer):
    """Vertex positions in world RAS mm, through the layer's own transform."""
    v = np.asarray(layer.data[0], float)
    return np.asarray(layer._data_to_world(v))[:, ::-1]


@pytest.fixture(scope="module")
def fsaverage(testdata):
    folder = testdata / "nilearn"
    if not (folder / "lh.white.surf.gii").is_file():
        pytest.fail(f"fsaverage5 surfaces missing in {folder}: run scripts/fetch_testdata.sh")
    return folder


def test_fsaverage_surfaces_in_ras_left_is_left(fsaverage):
    lh, rh = layer_of(fsaverage / "lh.pial.surf.gii"), layer_of(fsaverage / "rh.white.surf.gii")
    ref = nib.load(fsaverage / "lh.pial.surf.gii").agg_data(("pointset", "triangle"))
    assert lh.data[0].shape == (10242, 3) and lh.data[1].shape == (20480, 3)
    np.testing.assert_allclose(world_ras(lh), ref[0], atol=1e-4)
    np.testing.assert_array_equal(lh.data[1], ref[1])
    # anatomy: the left hemisphere lies at R < 0, the right at R > 0, and both span the brain
    assert np.median(world_ras(lh)[:, 0]) < -20 < 20 < np.median(world_ras(rh)[:, 0])
    extent = np.ptp(world_ras(lh), axis=0)
    assert 120 < extent[1] < 200 and 80 < extent[2] < 140  # A-P and I-S in mm


def test_shape_gifti_shown_on_the_anatomical_surface_beside_it(fsaverage, tmp_path):
    for name in ("lh.sulc.shape.gii", "lh.thickness.shape.gii", "lh.white.surf.gii",
                 "lh.inflated.surf.gii", "lh.pial.surf.gii", "rh.white.surf.gii"):
        shutil.copy(fsaverage / name, tmp_path)
    layer = layer_of(tmp_path / "lh.thickness.shape.gii")
    assert layer.metadata["surface_path"].endswith("lh.white.surf.gii")
    values = nib.load(fsaverage / "lh.thickness.shape.gii").agg_data()
    np.testing.assert_allclose(layer.vertex_values, values)
    assert 1.0 < np.median(values[values > 0]) < 4.0  # cortical thickness in mm
    lo, hi = layer.contrast_limits
    assert lo < np.median(values) < hi
    assert layer.colormap.name == "viridis"  # values in colour on the grey mesh


@pytest.mark.parametrize("space", ["RAS", "LPS"])
def test_real_mesh_written_as_stl_lands_on_the_gifti(fsaverage, tmp_path, space):
    verts, faces = nib.load(fsaverage / "lh.pial.surf.gii").agg_data(("pointset", "triangle"))
    flip = np.array([-1, -1, 1], np.float32) if space == "LPS" else np.ones(3, np.float32)
    data = np.zeros(len(faces), dtype=mesh.Mesh.dtype)
    data["vectors"] = (verts * flip)[faces]
    path = tmp_path / "lh_pial.stl"
    with open(path, "wb") as f:  # 3D Slicer's binary STL header names the space
        f.write(f"SPACE={space}".encode().ljust(80, b" "))
        f.write(np.uint32(len(faces)).tobytes())
        f.write(data.tobytes())
    layer = layer_of(path)
    assert layer.data[0].shape == (10242, 3) and layer.data[1].shape == (20480, 3)
    got = np.sort(world_ras(layer)[layer.data[1]].reshape(len(faces), -1), axis=0)
    want = np.sort(verts[faces].reshape(len(faces), -1), axis=0)
    np.testing.assert_allclose(got, want, atol=1e-4)
