"""STL reader: ASCII and binary, merged vertices, Slicer's SPACE=LPS/RAS, corrupt input."""

import numpy as np
import pytest
from napari.layers import Layer, Surface
from stl import Mode
from stl import mesh

from napari_nora.readers import NoraReadError, read
from napari_nora.readers.stl import merge_vertices

VERTS_RAS = np.array([[10.0, -20.0, 30.0], [12.5, -18.0, 31.0], [9.0, -17.5, 35.0],
                      [15.0, -25.0, 28.0]])
FACES = np.array([[0, 1, 2], [0, 2, 3]])


def stl_mesh(verts, faces):
    m = mesh.Mesh(np.zeros(len(faces), dtype=mesh.Mesh.dtype))
    m.vectors[:] = np.asarray(verts)[faces]
    return m


def write_binary(path, verts, faces, header=b""):
    """A binary STL with a chosen 80-byte header (as 3D Slicer writes it)."""
    data = np.zeros(len(faces), dtype=mesh.Mesh.dtype)
    data["vectors"] = np.asarray(verts)[faces]
    with open(path, "wb") as f:
        f.write(header.ljust(80, b" ")[:80])
        f.write(np.uint32(len(faces)).tobytes())
        f.write(data.tobytes())
    return path


def layer_of(path):
    (layer_tuple,) = read(path)
    return Layer.create(*layer_tuple)


def vertices_world_ras(layer):
    return np.array([layer.data_to_world(v) for v in layer.data[0]])[:, ::-1]


def assert_same_mesh(layer, verts_ras, faces):
    """Same triangles in world RAS, whatever the vertex numbering."""
    world = vertices_world_ras(layer)
    got = np.sort(world[layer.data[1]].reshape(len(faces), -1), axis=0)
    want = np.sort(np.asarray(verts_ras)[faces].reshape(len(faces), -1), axis=0)
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("mode", [Mode.BINARY, Mode.ASCII])
def test_vertices_in_ras_and_shared_corners_merged(tmp_path, mode):
    p = tmp_path / "m.stl"
    stl_mesh(VERTS_RAS, FACES).save(str(p), mode=mode)
    layer = layer_of(p)
    assert isinstance(layer, Surface)
    assert layer.data[0].shape == (4, 3) and layer.data[1].shape == (2, 3)  # 6 corners -> 4
    assert_same_mesh(layer, VERTS_RAS, FACES)
    assert layer.metadata["space"] == "RAS"


def test_slicer_lps_binary_header_negates_x_and_y(tmp_path):
    lps = VERTS_RAS * [-1, -1, 1]
    p = write_binary(tmp_path / "seg.stl", lps, FACES, b"3D Slicer output. SPACE=LPS")
    layer = layer_of(p)
    assert layer.metadata["space"] == "LPS"
    assert_same_mesh(layer, VERTS_RAS, FACES)
    p = write_binary(tmp_path / "ras.stl", VERTS_RAS, FACES, b"3D Slicer output. SPACE=RAS")
    assert_same_mesh(layer_of(p), VERTS_RAS, FACES)


def test_slicer_lps_ascii_solid_name_negates_x_and_y(tmp_path):
    m = stl_mesh(VERTS_RAS * [-1, -1, 1], FACES)
    m.name = "3D Slicer output. SPACE=LPS"
    p = tmp_path / "seg.stl"
    m.save(str(p), mode=Mode.ASCII)
    assert p.read_bytes().startswith(b"solid 3D Slicer output. SPACE=LPS")
    assert_same_mesh(layer_of(p), VERTS_RAS, FACES)


def test_binary_file_whose_header_starts_with_solid(tmp_path):
    p = write_binary(tmp_path / "tricky.stl", VERTS_RAS, FACES, b"solid exported by a CAD tool")
    assert_same_mesh(layer_of(p), VERTS_RAS, FACES)


def test_merge_vertices_on_a_closed_mesh(rng):
    # a tetrahedron: 4 triangles, 12 corners, 4 vertices
    verts = rng.normal(size=(4, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [0, 3, 1], [1, 3, 2], [2, 3, 0]])
    merged, new_faces = merge_vertices(verts[faces])
    assert merged.shape == (4, 3)
    np.testing.assert_array_equal(merged[new_faces], verts[faces])
    # -0.0 and 0.0 are one vertex
    tri = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], [[-0.0, 0, 0], [0, 1, 0], [0, 0, 1]]])
    assert merge_vertices(tri)[0].shape == (4, 3)


def test_corrupt_files_are_refused_with_the_file_named(tmp_path):
    p = write_binary(tmp_path / "ok.stl", VERTS_RAS, FACES)
    raw = p.read_bytes()
    (tmp_path / "trunc.stl").write_bytes(raw[:-30])
    with pytest.raises(NoraReadError, match="trunc.stl.*truncated"):
        read(tmp_path / "trunc.stl")
    (tmp_path / "junk.stl").write_bytes(b"\x00garbage\xff" * 40)
    with pytest.raises(NoraReadError, match="junk.stl"):
        read(tmp_path / "junk.stl")
    (tmp_path / "bad.stl").write_bytes(b"solid x\n facet normal 0 0 1\n outer loop\n"
                                       b"  vertex 1 2 nope\n" + b" " * 100)
    with pytest.raises(NoraReadError, match="bad.stl"):
        read(tmp_path / "bad.stl")
    write_binary(tmp_path / "empty.stl", VERTS_RAS, FACES[:0])
    with pytest.raises(NoraReadError, match="empty.stl.*no triangles"):
        read(tmp_path / "empty.stl")
