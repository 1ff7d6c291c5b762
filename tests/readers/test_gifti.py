"""GIFTI reader: surfaces in RAS mm, coordinate-system transforms, vertex data found on the
surface beside it, label tables, real files from nibabel, corrupt input."""

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Layer, Surface
from nibabel.gifti import GiftiCoordSystem, GiftiDataArray, GiftiImage, GiftiLabel

from napari_nora.readers import NoraReadError, read
from napari_nora.readers.gifti import find_surface, hemisphere

NIB_GIFTI = Path(nib.__file__).parent / "gifti" / "tests" / "data"
VERTS_RAS = np.array([[10.0, -20.0, 30.0], [12.5, -18.0, 31.0], [9.0, -17.5, 35.0],
                      [15.0, -25.0, 28.0]])
FACES = np.array([[0, 1, 2], [0, 2, 3]])


def layer_of(path):
    (layer_tuple,) = read(path)
    return Layer.create(*layer_tuple)


def vertices_world_ras(layer):
    return np.array([layer.data_to_world(v) for v in layer.data[0]])[:, ::-1]


def write_surface(path, verts, faces, *, structure=None, coordsys=None):
    meta = {"AnatomicalStructurePrimary": structure} if structure else {}
    arrays = [GiftiDataArray(np.asarray(verts, np.float32), intent="NIFTI_INTENT_POINTSET",
                             meta=meta, coordsys=coordsys),
              GiftiDataArray(np.asarray(faces, np.int32), intent="NIFTI_INTENT_TRIANGLE")]
    nib.save(GiftiImage(darrays=arrays), path)
    return path


def random_surface(n, rng, offset=0.0):
    verts = rng.normal(size=(n, 3)) * 40 + offset
    faces = np.stack([np.arange(n), np.roll(np.arange(n), 1), np.roll(np.arange(n), 2)], 1)
    return verts, faces


def write_values(path, arrays, intent="NIFTI_INTENT_SHAPE", labeltable=None):
    img = GiftiImage(darrays=[GiftiDataArray(np.asarray(a), intent=intent) for a in arrays])
    if labeltable is not None:
        img.labeltable = labeltable
    nib.save(img, path)
    return path


def test_surface_vertices_in_ras(tmp_path):
    layer = layer_of(write_surface(tmp_path / "lh.white.surf.gii", VERTS_RAS, FACES))
    assert isinstance(layer, Surface)
    np.testing.assert_allclose(vertices_world_ras(layer), VERTS_RAS, atol=1e-4)
    np.testing.assert_array_equal(layer.data[1], FACES)


def test_pointset_transform_applied_when_spaces_differ(tmp_path):
    xform = np.array([[0.0, -1, 0, 5], [1, 0, 0, -3], [0, 0, 2, 1], [0, 0, 0, 1]])
    cs = GiftiCoordSystem(dataspace=0, xformspace=1, xform=xform)  # unknown -> scanner
    layer = layer_of(write_surface(tmp_path / "x.surf.gii", VERTS_RAS, FACES, coordsys=cs))
    expected = VERTS_RAS @ xform[:3, :3].T + xform[:3, 3]
    np.testing.assert_allclose(vertices_world_ras(layer), expected, atol=1e-4)
    cs_same = GiftiCoordSystem(dataspace=3, xformspace=3, xform=xform)  # same space: as is
    layer = layer_of(write_surface(tmp_path / "y.surf.gii", VERTS_RAS, FACES, coordsys=cs_same))
    np.testing.assert_allclose(vertices_world_ras(layer), VERTS_RAS, atol=1e-4)


def test_shape_gifti_is_shown_on_the_surface_beside_it(tmp_path, rng):
    n = 50
    lh, faces = random_surface(n, rng, -30)
    rh, _ = random_surface(n, rng, 30)
    write_surface(tmp_path / "lh.white.surf.gii", lh, faces)
    write_surface(tmp_path / "rh.white.surf.gii", rh, faces)
    write_surface(tmp_path / "lh.inflated.surf.gii", lh * 3, faces)
    write_surface(tmp_path / "lh.other.surf.gii", *random_surface(n + 1, rng))
    thick = rng.random(n).astype(np.float32)
    layer = layer_of(write_values(tmp_path / "lh.thickness.shape.gii", [thick]))
    assert Path(layer.metadata["surface_path"]).name == "lh.white.surf.gii"
    np.testing.assert_allclose(vertices_world_ras(layer), lh, atol=1e-3)
    np.testing.assert_allclose(layer.vertex_values, thick)
    layer = layer_of(write_values(tmp_path / "rh.thickness.shape.gii", [thick]))
    assert Path(layer.metadata["surface_path"]).name == "rh.white.surf.gii"


def test_several_data_arrays_are_values_over_time(tmp_path, rng):
    verts, faces = random_surface(40, rng)
    write_surface(tmp_path / "sub-01_hemi-L_midthickness.surf.gii", verts, faces)
    series = [rng.random(40).astype(np.float32) for _ in range(6)]
    p = write_values(tmp_path / "sub-01_hemi-L_bold.func.gii", series,
                     intent="NIFTI_INTENT_TIME_SERIES")
    layer = layer_of(p)
    assert layer.vertex_values.shape == (6, 40) and layer.ndim == 4
    np.testing.assert_allclose(layer.vertex_values[3], series[3])


def test_vertex_data_without_its_surface_says_where_to_put_it(tmp_path, rng):
    write_surface(tmp_path / "lh.white.surf.gii", *random_surface(30, rng))
    p = write_values(tmp_path / "lh.curv.shape.gii", [rng.random(31).astype(np.float32)])
    with pytest.raises(NoraReadError, match=r"lh.curv.shape.gii.*31 vertices.*beside"):
        read(p)


def test_label_gifti_names_and_colours(tmp_path, rng):
    verts, faces = random_surface(20, rng)
    write_surface(tmp_path / "rh.pial.surf.gii", verts, faces)
    table = nib.gifti.GiftiLabelTable()
    for key, name, rgba in [(0, "unknown", (0, 0, 0, 0)), (5, "precentral", (1, 0, 0, 1)),
                            (9, "postcentral", (0, 0, 1, 1))]:
        lab = GiftiLabel(key, *rgba)
        lab.label = name
        table.labels.append(lab)
    keys = np.array([0, 5, 9, 5] * 5, np.int32)
    layer = layer_of(write_values(tmp_path / "rh.aparc.label.gii", [keys],
                                  intent="NIFTI_INTENT_LABEL", labeltable=table))
    assert layer.metadata["labels"][5][0] == "precentral"
    np.testing.assert_array_equal(layer.metadata["label_keys"], keys)
    # the colour shown at each vertex is its label's colour
    cmap = layer.colormap
    lo, hi = layer.contrast_limits
    shown = cmap.map((layer.vertex_values - lo) / (hi - lo))
    np.testing.assert_allclose(shown[keys == 5][:, :3], [[1, 0, 0]] * 10, atol=1e-6)
    np.testing.assert_allclose(shown[keys == 9][:, :3], [[0, 0, 1]] * 5, atol=1e-6)


def test_hemisphere_from_names_and_structure():
    assert hemisphere("lh.white.surf.gii") == "L"
    assert hemisphere("100307.R.midthickness.32k_fs_LR.surf.gii") == "R"
    assert hemisphere("sub-01_hemi-L_pial.surf.gii") == "L"
    assert hemisphere("surface.gii", "CortexRight") == "R"
    assert hemisphere("brain.surf.gii") is None


@pytest.mark.parametrize("name,n_verts,n_faces", [("ascii.gii", 3, 1),
                                                   ("external.gii", 8, 12)])
def test_real_nibabel_surfaces(name, n_verts, n_faces):
    img = nib.load(NIB_GIFTI / name)
    layer = layer_of(NIB_GIFTI / name)
    assert layer.data[0].shape == (n_verts, 3) and layer.data[1].shape == (n_faces, 3)
    np.testing.assert_allclose(vertices_world_ras(layer), img.darrays[0].data, atol=1e-4)


def test_real_nibabel_truncated_excerpt_is_refused():
    # base64bin.gii keeps 10 vertices of a big mesh but triangles that index far beyond them
    with pytest.raises(NoraReadError, match="base64bin.gii.*triangles"):
        read(NIB_GIFTI / "base64bin.gii")


def test_real_nibabel_func_and_annot_on_a_surface_beside(tmp_path, rng):
    shutil.copy(NIB_GIFTI / "task.func.gii", tmp_path)
    write_surface(tmp_path / "lh.midthickness.surf.gii", *random_surface(642, rng))
    layer = layer_of(tmp_path / "task.func.gii")
    assert layer.vertex_values.shape == (10, 642)
    ref = nib.load(NIB_GIFTI / "task.func.gii").darrays[4].data
    np.testing.assert_allclose(layer.vertex_values[4], ref)

    shutil.copy(NIB_GIFTI / "rh.aparc.annot.gii", tmp_path)
    n = 151533
    for hemi, offset in (("lh", -40), ("rh", 40)):
        write_surface(tmp_path / f"{hemi}.white.surf.gii", *random_surface(n, rng, offset))
    layer = layer_of(tmp_path / "rh.aparc.annot.gii")
    assert Path(layer.metadata["surface_path"]).name == "rh.white.surf.gii"
    names = {v[0] for v in layer.metadata["labels"].values()}
    assert {"bankssts", "precentral", "insula"} <= names
    assert find_surface(tmp_path / "rh.aparc.annot.gii", n) == tmp_path / "rh.white.surf.gii"


def test_corrupt_files_are_refused_with_the_file_named(tmp_path, rng):
    good = write_surface(tmp_path / "ok.surf.gii", *random_surface(30, rng))
    raw = good.read_bytes()
    (tmp_path / "trunc.surf.gii").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NoraReadError, match="trunc.surf.gii"):
        read(tmp_path / "trunc.surf.gii")
    (tmp_path / "junk.gii").write_bytes(b"<?xml version='1.0'?><GIFTI>\x00\xff garbage")
    with pytest.raises(NoraReadError, match="junk.gii"):
        read(tmp_path / "junk.gii")
