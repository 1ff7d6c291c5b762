"""NRRD/NHDR reader: spaces, directions and origin in world coordinates, encodings, detached
headers, colour and list axes, Slicer segmentations, corrupt input."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import nrrd
import numpy as np
import pytest
from napari.layers import Image, Labels, Layer

from napari_nora.readers import NoraReadError, read
from napari_nora.readers.layers import LazyTimeSeries
from tests.helpers import AFFINES, marker_volume, world_of_voxel, write_dicom_series

MARKER = (17, 5, 11)
#: NRRD space -> diagonal taking RAS to that space (its own inverse)
SPACE_FLIPS = {"left-posterior-superior": (-1, -1, 1), "right-anterior-superior": (1, 1, 1),
               "left-anterior-superior": (-1, 1, 1), "LPS": (-1, -1, 1), "RAS": (1, 1, 1)}


def header_for(aff_vox2ras, space="left-posterior-superior", **extra):
    """NRRD header whose space directions/origin put voxel (i, j, k) at ``aff_vox2ras``."""
    a = np.diag([*SPACE_FLIPS[space], 1.0]) @ aff_vox2ras
    return {"space": space, "space directions": a[:3, :3].T, "space origin": a[:3, 3], **extra}


def layer_of(path):
    (layer_tuple,) = read(path)
    return Layer.create(*layer_tuple)


def brightest_world_ras(layer):
    data = np.asarray(layer.data)
    idx = np.unravel_index(np.argmax(data), data.shape)
    return np.asarray(layer.data_to_world(idx))[-3:][::-1]  # (S, A, R) -> RAS


def assert_at(layer, true_ras, oblique=False):
    got = brightest_world_ras(layer)
    if oblique:  # resampled display grid: within half a display voxel
        assert np.all(np.abs(got - true_ras) <= np.asarray(layer.scale)[-3:][::-1] / 2 + 1e-4)
    else:
        np.testing.assert_allclose(got, true_ras, atol=1e-4)


@pytest.mark.parametrize("name", list(AFFINES))
@pytest.mark.parametrize("space", ["left-posterior-superior", "right-anterior-superior",
                                   "left-anterior-superior"])
def test_marker_lands_at_its_scanner_position(tmp_path, name, space):
    aff = AFFINES[name]
    p = tmp_path / "v.nrrd"
    nrrd.write(str(p), marker_volume(marker=MARKER), header_for(aff, space, encoding="gzip"))
    layer = layer_of(p)
    assert_at(layer, world_of_voxel(aff, MARKER), "oblique" in name)
    assert layer.data.dtype == np.int16


@pytest.mark.parametrize("detached", [False, True])
@pytest.mark.parametrize("encoding", ["raw", "gzip", "bzip2", "ascii"])
def test_encodings_and_detached_headers(tmp_path, detached, encoding):
    aff = AFFINES["coronal_permuted"]
    vol = marker_volume(marker=MARKER).astype(">f4")  # big-endian float stays float32
    p = tmp_path / ("v.nhdr" if detached else "v.nrrd")
    nrrd.write(str(p), vol, header_for(aff, "LPS", encoding=encoding), detached_header=detached)
    if detached:
        assert len(list(tmp_path.iterdir())) == 2  # header and its data file
    layer = layer_of(p)
    assert layer.data.dtype == np.float32 and layer.data.dtype.isnative
    assert_at(layer, world_of_voxel(aff, MARKER))


def test_detached_header_written_by_hand_with_relative_data_file(tmp_path):
    vol = marker_volume(marker=MARKER)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "v.raw.gz").write_bytes(gzip.compress(vol.tobytes(order="F")))
    a = np.diag([-1.0, -1.0, 1.0, 1.0]) @ AFFINES["lps"]
    dirs = " ".join("(" + ",".join(repr(float(x)) for x in a[:3, c]) + ")" for c in range(3))
    (tmp_path / "v.nhdr").write_text(
        "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\n"
        f"sizes: {' '.join(map(str, vol.shape))}\nspace directions: {dirs}\n"
        "kinds: domain domain domain\nendian: little\nencoding: gzip\n"
        f"space origin: ({','.join(repr(float(x)) for x in a[:3, 3])})\n"
        "data file: data/v.raw.gz\n")
    assert_at(layer_of(tmp_path / "v.nhdr"), world_of_voxel(AFFINES["lps"], MARKER))


@pytest.mark.parametrize("space", ["scanner-xyz", "3D-right-handed"])
def test_generic_spaces_taken_as_ras_with_a_note(tmp_path, space):
    aff = AFFINES["sagittal_permuted"]
    hdr = {"space": space, "space directions": aff[:3, :3].T, "space origin": aff[:3, 3]}
    nrrd.write(str(tmp_path / "v.nrrd"), marker_volume(marker=MARKER), hdr)
    layer = layer_of(tmp_path / "v.nrrd")
    assert_at(layer, world_of_voxel(aff, MARKER))
    assert "RAS" in layer.metadata["geometry_note"]


def test_left_handed_space_negates_x(tmp_path):
    aff = AFFINES["ras"]
    las = np.diag([-1.0, 1, 1, 1]) @ aff
    hdr = {"space": "3D-left-handed", "space directions": las[:3, :3].T,
           "space origin": las[:3, 3]}
    nrrd.write(str(tmp_path / "v.nrrd"), marker_volume(marker=MARKER), hdr)
    assert_at(layer_of(tmp_path / "v.nrrd"), world_of_voxel(aff, MARKER))


def test_no_space_uses_spacings_at_the_origin_with_a_note(tmp_path):
    hdr = {"spacings": [0.5, 2.0, 3.0]}
    nrrd.write(str(tmp_path / "v.nrrd"), marker_volume(marker=MARKER), hdr)
    layer = layer_of(tmp_path / "v.nrrd")
    assert_at(layer, np.array(MARKER) * [0.5, 2.0, 3.0])
    assert "spacings" in layer.metadata["geometry_note"]
    nrrd.write(str(tmp_path / "bare.nrrd"), marker_volume(marker=MARKER), {})
    assert_at(layer_of(tmp_path / "bare.nrrd"), np.array(MARKER, float))


def test_rgb_color_axis_first_is_an_rgb_image(tmp_path):
    aff = AFFINES["lps"]
    rgb = np.zeros((3, 12, 10, 8), np.uint8)  # Slicer puts the colour axis first
    rgb[0, 7, 2, 5] = 255  # a red voxel at (7, 2, 5)
    a = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    dirs = np.vstack([np.full(3, np.nan), a[:3, :3].T])
    hdr = {"space": "LPS", "space directions": dirs, "space origin": a[:3, 3],
           "kinds": ["RGB-color", "domain", "domain", "domain"], "encoding": "gzip"}
    nrrd.write(str(tmp_path / "c.nrrd"), rgb, hdr)
    layer = layer_of(tmp_path / "c.nrrd")
    assert isinstance(layer, Image) and layer.rgb and layer.data.shape[-1] == 3
    red = np.asarray(layer.data)[..., 0]
    idx = np.unravel_index(np.argmax(red), red.shape)
    np.testing.assert_allclose(np.asarray(layer.data_to_world(idx))[::-1],
                               world_of_voxel(aff, (7, 2, 5)), atol=1e-4)


@pytest.mark.parametrize("kind", ["list", "vector", "time"])
def test_list_axis_is_a_time_series(tmp_path, kind):
    aff = AFFINES["sagittal_permuted"]
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 50, size=(10, 11, 12, 4)).astype(np.int16)
    vol[3, 4, 5, 2] = 999
    a = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    hdr = {"space": "LPS", "space directions": np.vstack([a[:3, :3].T, np.full(3, np.nan)]),
           "space origin": a[:3, 3], "kinds": ["domain"] * 3 + [kind]}
    nrrd.write(str(tmp_path / "t.nrrd"), vol, hdr)
    (data, kwargs, kind_), = read(tmp_path / "t.nrrd")
    assert isinstance(data, LazyTimeSeries) and data.shape[0] == 4
    layer = Layer.create(data, kwargs, kind_)
    t, *disp = np.unravel_index(np.argmax(np.asarray(data)), data.shape)
    assert t == 2
    np.testing.assert_allclose(np.asarray(layer.data_to_world([t, *disp]))[1:][::-1],
                               world_of_voxel(aff, (3, 4, 5)), atol=1e-4)


def test_2d_image_is_a_one_slice_volume(tmp_path):
    img = np.zeros((20, 30), np.uint8)
    img[4, 7] = 200
    hdr = {"space": "RAS", "space directions": [[0.5, 0, 0], [0, 0.7, 0]],
           "space origin": [1.0, 2.0, 3.0]}
    nrrd.write(str(tmp_path / "s.nrrd"), img, hdr)
    layer = layer_of(tmp_path / "s.nrrd")
    assert_at(layer, [1 + 4 * 0.5, 2 + 7 * 0.7, 3.0])


def _seg_header(aff, segments, layered=False):
    a = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    dirs = a[:3, :3].T
    hdr = {"space": "left-posterior-superior", "space origin": a[:3, 3], "encoding": "gzip",
           "space directions": np.vstack([np.full(3, np.nan), dirs]) if layered else dirs,
           "kinds": (["list"] if layered else []) + ["domain"] * 3}
    for n, (name, value, color, layer) in enumerate(segments):
        hdr.update({f"Segment{n}_Name": name, f"Segment{n}_LabelValue": str(value),
                    f"Segment{n}_Color": " ".join(map(str, color)),
                    f"Segment{n}_Layer": str(layer), f"Segment{n}_ID": f"Segment_{n}"})
    return hdr


def test_slicer_segmentation_is_labels_with_names_and_colours(tmp_path):
    aff = AFFINES["lps"]
    lab = np.zeros((12, 10, 8), np.uint8)
    lab[2:4, 2:4, 2:4] = 1
    lab[6:9, 5:8, 4:6] = 2
    segs = [("liver", 1, (0.8, 0.1, 0.1), 0), ("tumour", 2, (0.1, 0.9, 0.2), 0)]
    p = tmp_path / "case.seg.nrrd"
    nrrd.write(str(p), lab, _seg_header(aff, segs))
    layer = layer_of(p)
    assert isinstance(layer, Labels) and layer.name == "case.seg"
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert names[1] == "liver" and names[2] == "tumour"
    np.testing.assert_allclose(layer.get_color(2)[:3], [0.1, 0.9, 0.2], atol=0.01)
    disp = np.linalg.inv(layer.metadata["disp2vox"]) @ np.r_[7, 6, 5, 1]
    assert layer.data[tuple(disp[:3].round().astype(int))] == 2
    # world of that voxel is where the header puts it
    np.testing.assert_allclose(np.asarray(layer.data_to_world(disp[:3]))[::-1],
                               world_of_voxel(aff, (7, 6, 5)), atol=1e-4)


def test_slicer_segmentation_with_overlapping_layers_gives_a_labels_layer_each(tmp_path):
    lab = np.zeros((2, 12, 10, 8), np.uint8)
    lab[0, 2:6, 2:6, 2:6] = 1
    lab[1, 4:8, 4:8, 4:8] = 1  # overlaps segment 0
    segs = [("a", 1, (1, 0, 0), 0), ("b", 1, (0, 1, 0), 1)]
    nrrd.write(str(tmp_path / "s.seg.nrrd"), lab, _seg_header(AFFINES["ras"], segs, True))
    layers = [Layer.create(*t) for t in read(tmp_path / "s.seg.nrrd")]
    assert [type(x) for x in layers] == [Labels, Labels]
    assert [dict(zip(x.features["index"], x.features["name"]))[1] for x in layers] == ["a", "b"]
    assert [int(np.asarray(x.data).sum()) for x in layers] == [64, 64]


def test_label_volume_with_table_beside_is_labels(tmp_path):
    lab = np.zeros((10, 10, 10), np.int16)
    lab[2:5, 2:5, 2:5] = 3
    nrrd.write(str(tmp_path / "atlas.nrrd"), lab, header_for(AFFINES["ras"]))
    (tmp_path / "atlas.txt").write_text("3 Thalamus 0 118 14\n")
    layer = layer_of(tmp_path / "atlas.nrrd")
    assert isinstance(layer, Labels)
    assert dict(zip(layer.features["index"], layer.features["name"]))[3] == "Thalamus"


def test_corrupt_files_are_refused_with_the_file_named(tmp_path):
    nrrd.write(str(tmp_path / "ok.nrrd"), marker_volume(), header_for(AFFINES["ras"],
                                                                      encoding="gzip"))
    raw = (tmp_path / "ok.nrrd").read_bytes()
    (tmp_path / "trunc.nrrd").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NoraReadError, match="trunc.nrrd"):
        read(tmp_path / "trunc.nrrd")
    (tmp_path / "junk.nrrd").write_bytes(b"NRRD0004\n" + b"\x00garbage\xff" * 50)
    with pytest.raises(NoraReadError, match="junk.nrrd"):
        read(tmp_path / "junk.nrrd")
    nrrd.write(str(tmp_path / "lost.nhdr"), marker_volume(), {}, detached_header=True)
    next(tmp_path.glob("lost.raw*")).unlink()
    with pytest.raises(NoraReadError, match="lost.nhdr"):
        read(tmp_path / "lost.nhdr")


@pytest.mark.parametrize("name", ["lps", "coronal_permuted", "oblique_permuted"])
@pytest.mark.parametrize("suffix,compress", [(".nrrd", "n"), (".nhdr", "y")])
def test_nrrd_written_by_dcm2niix_lands_where_the_dicom_says(tmp_path, name, suffix, compress):
    exe = Path(sys.executable).parent / "dcm2niix"
    exe = str(exe) if exe.exists() else shutil.which("dcm2niix")
    if exe is None:
        pytest.fail("dcm2niix not found: install the 'dcm2niix' package (test dependency)")
    aff = AFFINES[name]
    folder = write_dicom_series(tmp_path / "dcm", marker_volume(marker=MARKER), aff)
    subprocess.run([exe, "-e", "y", "-z", compress, "-f", "conv", "-o", str(tmp_path),
                    str(folder)], check=True, capture_output=True)
    assert_at(layer_of(tmp_path / f"conv{suffix}"), world_of_voxel(aff, MARKER),
              "oblique" in name)
