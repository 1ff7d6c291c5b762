"""One contract over every format: a bright marker written at a known scanner position is
found there in napari's world (RAS mm, napari order S, A, R), for plain, permuted, flipped,
LPS-stored and oblique grids; meshes keep their vertices' RAS positions."""

import zipfile

import nibabel as nib
import numpy as np
import pytest
from napari.components import ViewerModel

from tests.helpers import AFFINES, marker_volume, world_of_voxel, write_dicom_series

MARKER = (17, 5, 11)
SHAPE = (24, 20, 16)


def _nifti(tmp, vol, aff):
    p = tmp / "v.nii.gz"
    nib.save(nib.Nifti1Image(vol, aff), p)
    return p


def _nifti_pair(tmp, vol, aff):
    p = tmp / "v.img"
    nib.save(nib.Nifti1Pair(vol, aff), p)
    return tmp / "v.hdr"


def _mgz(tmp, vol, aff):
    p = tmp / "v.mgz"
    nib.save(nib.MGHImage(vol.astype(np.int16), aff), p)
    return p


def _nrrd(tmp, vol, aff, detached=False):
    import nrrd

    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    header = {"space": "left-posterior-superior", "space directions": lps[:3, :3].T,
              "space origin": lps[:3, 3], "encoding": "gzip"}
    p = tmp / ("v.nhdr" if detached else "v.nrrd")
    nrrd.write(str(p), vol, header, detached_header=detached)
    return p


def _dicom_folder(tmp, vol, aff):
    return write_dicom_series(tmp / "dicom", vol, aff)


def _dicom_zip(tmp, vol, aff):
    folder = write_dicom_series(tmp / "dicomsrc", vol, aff)
    p = tmp / "series.zip"
    with zipfile.ZipFile(p, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"patient/series/{f.name}")
    return p


VOLUME_FORMATS = {
    "nifti": _nifti,
    "nifti-pair": _nifti_pair,
    "mgz": _mgz,
    "nrrd": _nrrd,
    "nhdr": lambda t, v, a: _nrrd(t, v, a, detached=True),
    "dicom-folder": _dicom_folder,
    "dicom-zip": _dicom_zip,
}


@pytest.mark.parametrize("affine_name", list(AFFINES))
@pytest.mark.parametrize("fmt", list(VOLUME_FORMATS))
def test_marker_at_scanner_position(tmp_path, fmt, affine_name):
    aff = AFFINES[affine_name]
    path = VOLUME_FORMATS[fmt](tmp_path, marker_volume(SHAPE, MARKER), aff)
    viewer = ViewerModel()
    layers = viewer.open(str(path), plugin="napari-nora")
    assert len(layers) == 1
    layer = layers[0]
    data = np.asarray(layer.data)
    peak = np.unravel_index(np.argmax(data), data.shape)
    got_ras = np.asarray(layer.data_to_world(peak))[::-1]
    true_ras = world_of_voxel(aff, MARKER)
    if "oblique" in affine_name:
        assert np.all(np.abs(got_ras - true_ras) <= np.asarray(layer.scale)[::-1] / 2 + 1e-4)
    else:
        np.testing.assert_allclose(got_ras, true_ras, atol=1e-4)
    # napari slices these layers orthogonally: display axes are axis-aligned in the world
    lin = np.asarray(layer.affine.affine_matrix)[:3, :3]
    assert np.count_nonzero(np.abs(lin - np.diag(np.diag(lin))) > 1e-9) == 0


TRIANGLE_RAS = np.array([[10.0, -20.0, 30.0], [12.5, -18.0, 31.0], [9.0, -17.5, 35.0],
                         [15.0, -25.0, 28.0]])
FACES = np.array([[0, 1, 2], [0, 2, 3]])


def _gifti(tmp):
    arrays = [
        nib.gifti.GiftiDataArray(TRIANGLE_RAS.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
        nib.gifti.GiftiDataArray(FACES.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
    ]
    p = tmp / "lh.test.surf.gii"
    nib.save(nib.gifti.GiftiImage(darrays=arrays), p)
    return p


def _stl(tmp):
    from stl import mesh

    m = mesh.Mesh(np.zeros(len(FACES), dtype=mesh.Mesh.dtype))
    m.vectors[:] = TRIANGLE_RAS[FACES]
    p = tmp / "m.stl"
    m.save(str(p))
    return p


@pytest.mark.parametrize("make", [_gifti, _stl], ids=["gifti", "stl"])
def test_mesh_vertices_in_ras(tmp_path, make):
    viewer = ViewerModel()
    (layer,) = viewer.open(str(make(tmp_path)), plugin="napari-nora")
    verts_world = np.array([layer.data_to_world(v) for v in layer.data[0]])[:, ::-1]
    for p in TRIANGLE_RAS:
        assert np.min(np.linalg.norm(verts_world - p, axis=1)) < 1e-4
