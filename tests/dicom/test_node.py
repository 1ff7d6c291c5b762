"""Our DICOM node against real dcmtk clients (echoscu, storescu, movescu via Orthanc) and a
pynetdicom sender that aborts mid-association."""

from __future__ import annotations

import threading
import time

import pydicom
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage

from tests.dicom.dicom_tools import run_tool
from nora_server.dicom.spool import Spool


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_echoscu_reaches_the_node(make_node, node_port):
    make_node()
    run_tool("echoscu", "-aec", "NORA", "127.0.0.1", node_port)


def test_unknown_peer_is_rejected_configured_peer_accepted(make_node, node_port):
    make_node(open_=False, peers=[("SCANNER1", "127.0.0.1")])
    bad = run_tool("echoscu", "-aet", "STRANGER", "-aec", "NORA", "127.0.0.1", node_port,
                   check=False)
    assert bad.returncode != 0 and "Rejected" in bad.stderr + bad.stdout
    run_tool("echoscu", "-aet", "SCANNER1", "-aec", "NORA", "127.0.0.1", node_port)


def test_storescu_series_is_spooled_and_handed_over_once_quiet(make_node, node_port,
                                                              oblique_series):
    got, done = [], threading.Event()

    def on_study(folder, route):
        got.append((sorted(p.name for p in Spool.instances(folder)), route))
        done.set()

    make_node(on_study=on_study, quiet_s=0.5)
    run_tool("storescu", "-aec", "NORA_NEURO", "+sd", "127.0.0.1", node_port,
             oblique_series[0])
    assert done.wait(10)
    (names, route), = got
    sops = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID + ".dcm"
            for f in oblique_series[0].iterdir()}
    assert set(names) == sops
    assert route["called_aet"] == "NORA_NEURO" and route["calling_aet"] == "STORESCU"


def test_compressed_transfer_syntaxes_are_accepted(make_node, node_port, pydicom_files):
    node = make_node(quiet_s=60)
    # storescu proposes one kind of compression per run
    for name, option in [("emri_small_jpeg_ls_lossless.dcm", "-xt"), ("MR_small_RLE.dcm", "-xr"),
                         ("JPEG2000.dcm", "-xw"), ("SC_rgb_jpeg_dcmtk.dcm", "-xy"),
                         ("JPEG-LL.dcm", "-xs")]:
        run_tool("storescu", option, "-R", "-aec", "NORA", "127.0.0.1", node_port,
                 pydicom_files[name])
    stored = list(node.spool.incoming.rglob("*.dcm"))
    syntaxes = {str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for f in stored}
    assert syntaxes == {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.91",
                        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70"}


def test_abort_mid_association_keeps_every_acknowledged_instance(make_node, node_port,
                                                                 oblique_series):
    node = make_node(quiet_s=60)
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", node_port, ae_title="NORA")
    assert assoc.is_established
    files = sorted(oblique_series[0].iterdir())[:5]
    for f in files:
        assert assoc.send_c_store(pydicom.dcmread(f)).Status == 0
    assoc.abort()
    stored = {p.stem for p in node.spool.incoming.rglob("*.dcm")}
    assert stored == {str(pydicom.dcmread(f).SOPInstanceUID) for f in files}


def test_restart_resumes_the_spool(make_node, node_port, oblique_series, tmp_path):
    node = make_node(quiet_s=60, spool_dir=tmp_path / "spool")
    run_tool("storescu", "-aec", "NORA", "+sd", "127.0.0.1", node_port, oblique_series[0])
    node.stop()                                      # the node goes down before the study is quiet
    got = []
    make_node(on_study=lambda f, r: got.append(len(Spool.instances(f))),
              spool_dir=tmp_path / "spool", quiet_s=0.3)
    assert _wait(lambda: got == [12])


def test_movescu_pulls_from_orthanc_into_the_node(make_node, node_port, orthanc,
                                                  oblique_series):
    node = make_node(quiet_s=60)
    study = str(pydicom.dcmread(next(oblique_series[0].iterdir())).StudyInstanceUID)
    run_tool("movescu", "-aet", "MOVESCU", "-aec", "ORTHANC", "-aem", "NORA", "-S",
             "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}",
             "127.0.0.1", orthanc.dicom_port)
    assert len(list((node.spool.incoming / study).glob("*.dcm"))) == 12


def test_node_sockets_have_nagle_off(make_node, node_port):
    import socket

    node = make_node()
    ae = AE(ae_title="SENDER")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", node_port, ae_title="NORA")
    try:
        assert assoc.is_established and _wait(lambda: node.ae.active_associations)
        (theirs,) = node.ae.active_associations
        sock = theirs.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        assoc.release()


def test_studies_are_routed_by_called_ae_title_tag_rule_or_default(make_node, node_port,
                                                                   archive_session, tmp_path,
                                                                   oblique_series,
                                                                   two_series_folder,
                                                                   pydicom_files):
    from nora_server.dicom.service import make_on_study
    from nora_server.dicom.settings import DicomSettings, Rule

    for p in ("neuro", "ct"):
        archive_session.create_project(p)
    dicom = DicomSettings(routes={"NORA_NEURO": "neuro"}, default_project="demo",
                          rules=[Rule("Modality", "^CT$", "ct")])
    imported, failures = threading.Event(), []
    on_study = make_on_study(archive_session, dicom, tmp_path / "spool")
    count = [0]

    def counted(folder, route):
        try:
            on_study(folder, route)
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)
            raise
        finally:
            count[0] += 1
            if count[0] == 3:
                imported.set()
    make_node(on_study=counted, quiet_s=0.3)
    run_tool("storescu", "-aec", "NORA_NEURO", "+sd", "127.0.0.1", node_port, oblique_series[0])
    run_tool("storescu", "-aec", "NORA", "127.0.0.1", node_port, pydicom_files["CT_small.dcm"])
    run_tool("storescu", "-aec", "NORA", "+sd", "127.0.0.1", node_port, two_series_folder)
    assert imported.wait(60) and not failures, failures
    assert [r.study for r in archive_session.studies("neuro")] == ["20240315101500"]
    assert [r.modality for r in archive_session.studies("ct")] == ["CT"]
    assert len(archive_session.select_files("demo", "*.nii")) == 2


def test_a_study_being_written_is_never_claimed(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.store("5.5", "5.5.1", b"A")
    spool._writing["5.5"] = 1            # an instance of the study is landing right now
    assert spool.quiet_studies(0) == [] and spool.claim("5.5") is None
    del spool._writing["5.5"]
    assert spool.quiet_studies(0) == ["5.5"] and spool.claim("5.5") is not None


def test_node_import_starts_the_projects_autoexec_queue(archive_session, oblique_series,
                                                        tmp_path, monkeypatch):
    """The hand-over of a quiet study: import with the project's policy, then its queue."""
    import shutil

    from nora_server.config import Settings
    from nora_server.dicom.autoexec import AutoexecLaunch
    from nora_server.dicom.service import make_on_study
    from nora_server.dicom.settings import DicomSettings, ProjectPolicy

    batch = {"name": "copy t1", "level": "study", "jobs": [
        {"name": "copy", "type": "bash", "code": "cp $f1 $o1",
         "args": [{"type": "FILE", "pattern": "t1*/s0*.nii"},
                  {"type": "OUT", "name": "derived/t1copy.nii"}]}]}
    archive_session.save_document("batch", "copy t1", batch, project="demo")
    archive_session.save_document("settings", "autoexec", {"nightly": ["copy t1"]},
                                  project="demo")
    archive = archive_session.archive
    settings = Settings(database=archive.engine.url.render_as_string(hide_password=False),
                        storage=archive.storage)
    dicom = DicomSettings(default_project="demo",
                          policies={"demo": ProjectPolicy(autoexec="nightly")})
    folder = tmp_path / "ready" / "study.1"
    shutil.copytree(oblique_series[0], folder)
    launched = []
    import nora_server.dicom.autoexec as autoexec
    real = autoexec.launch_autoexec

    def spy(*args, **kw):
        launched.append(real(*args, **kw))
        return launched[-1]
    monkeypatch.setattr(autoexec, "launch_autoexec", spy)
    make_on_study(archive_session, dicom, tmp_path / "spool", settings, archive)(
        folder, {"called_aet": "NORA"})
    (launch,) = launched
    assert isinstance(launch, AutoexecLaunch)
    assert [r.state for r in launch.wait(timeout=120)] == ["done"]
    assert archive_session.select_files("demo", "derived/t1copy.nii")


def test_direct_c_store_response_is_what_pynetdicom_encodes():
    from pynetdicom.dimse_messages import C_STORE_RSP
    from pynetdicom.dimse_primitives import C_STORE

    from nora_server.dicom.node import c_store_rsp_command

    for uid in ("1.2.3.4", "1.2.826.0.1.3680043.8.498.12345678901234567890123456789012345"):
        for status in (0x0000, 0xB000, 0xA700):
            rsp = C_STORE()
            rsp.MessageIDBeingRespondedTo, rsp.Status = 65535, status
            rsp.AffectedSOPClassUID, rsp.AffectedSOPInstanceUID = MRImageStorage, uid
            msg = C_STORE_RSP()
            msg.primitive_to_message(rsp)
            (pdata,) = msg.encode_msg(1, 1 << 20)
            assert c_store_rsp_command(rsp) == pdata.presentation_data_value_list[0][1][1:]


_NODE_PROCESS = """
import sys, time
from pathlib import Path
from nora_server.dicom.node import DicomNode
from nora_server.dicom.settings import DicomSettings
from nora_server.dicom.spool import Spool
settings = DicomSettings(ae_title="NORA", host="127.0.0.1", port=int(sys.argv[1]), open=True)
DicomNode(settings, Spool(Path(sys.argv[2]))).start()
print("up", flush=True)
time.sleep(600)
"""


def test_node_killed_mid_association_keeps_every_acknowledged_instance(node_port, oblique_series,
                                                                       tmp_path):
    """SIGKILL of the node's process while a sender streams: every instance it acknowledged is
    whole in the spool after a restart, no partial write is left and the study is handed
    over."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from nora_server.dicom.spool import StudyWatcher

    root = Path(__file__).resolve().parents[2]
    node = subprocess.Popen([sys.executable, "-c", _NODE_PROCESS, str(node_port),
                             str(tmp_path / "spool")], cwd=root, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert node.stdout.readline() == "up\n"
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(MRImageStorage)
        assoc = ae.associate("127.0.0.1", node_port, ae_title="NORA")
        assert assoc.is_established
        sources = {}
        for f in sorted(oblique_series[0].iterdir()):
            ds = pydicom.dcmread(f)
            sources[str(ds.SOPInstanceUID)] = ds
        acked = []
        for i, (uid, ds) in enumerate(sources.items()):
            if i == 6:  # kill while the next instances are on their way
                threading.Timer(0.002, node.send_signal, (signal.SIGKILL,)).start()
            try:
                rsp = assoc.send_c_store(ds)
            except Exception:
                break
            if not assoc.is_established or rsp is None or "Status" not in rsp:
                break
            assert rsp.Status == 0
            acked.append(uid)
        assoc.abort()
    finally:
        node.kill()
        node.wait(10)
    assert 6 <= len(acked) < len(sources)                 # killed mid-association
    spool = Spool(tmp_path / "spool")                      # the restart
    assert not any(spool.tmp.iterdir()) and not any(spool.blank.iterdir())
    stored = {p.stem: p for p in spool.incoming.rglob("*.dcm")}
    assert set(acked) <= set(stored)
    for uid, path in stored.items():                       # whole, not just named
        assert pydicom.dcmread(path).PixelData == sources[uid].PixelData
    got = []
    StudyWatcher(spool, lambda f, r: got.append(len(Spool.instances(f))), quiet_s=0).sweep()
    assert got == [len(stored)]


def test_spool_fills_blank_files_and_restart_drops_them(tmp_path):
    spool = Spool(tmp_path / "s")
    paths = [spool.store("1.2.3", f"1.2.3.{i}", b"x" * i) for i in range(1, 40)]
    assert [p.read_bytes() for p in paths] == [b"x" * i for i in range(1, 40)]
    assert _wait(lambda: len(list(spool.blank.iterdir())) >= spool._blanks.ahead // 2)
    again = Spool(tmp_path / "s")                          # restart: blanks are dropped
    assert not any(again.blank.iterdir())
    again.store("1.2.3", "1.2.3.99", b"late")              # the first spool's blanks are gone
    spool.store("1.2.3", "1.2.3.100", b"old")              # it creates its own file instead
    assert (again.incoming / "1.2.3" / "1.2.3.100.dcm").read_bytes() == b"old"
