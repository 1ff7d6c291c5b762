"""Batches on the archive through the command line: targets from the subject/study table, OUT
files registered with their tags, ``nora`` inside jobs, the job table on SQLite and MariaDB,
``JOB:e`` filters, re-runs, the autoexecution queue, ``noractl test slurm``."""

from __future__ import annotations

import json
import subprocess

import pytest

from nora_server.archive import AddItem
from nora_server.cli.batch_commands import noractl_main, nora_main
from tests.batch.batch_helpers import COPY_AND_QUERY, make_site as _site

@pytest.fixture(params=["sqlite", "mariadb"])
def site(request, tmp_path, monkeypatch):
    archive, admin, drop = _site(tmp_path, monkeypatch, request.param)
    yield archive, admin
    archive.dispose()
    drop()


def test_cli_launch_registers_outputs_and_nora_works_in_jobs(site, capsys):
    archive, admin = site
    code = nora_main(["-p", "demo", "--launch", json.dumps(COPY_AND_QUERY),
                      "--handle_job_result"])
    out, err = capsys.readouterr()
    assert code == 0 and out.rstrip().endswith("DONE")
    assert "launched" in out and "3 job(s) on local" in out
    # OUT files are in the archive index with their tags (job 1 registered before job 2 ran)
    copies = admin.select_files("demo", "derived/t1copy.nii", with_tags=True)
    assert [(f.subject, f.study) for f in copies] == [("P001", "S2"), ("P002", "S1")]
    assert set(copies[0].tags) == {"copy", "auto"}
    assert copies[0].abspath.read_text() == "P001#S2 t1/s001.nii"  # 'last' study by date
    found = archive.storage / "demo" / "P001" / "S2" / "derived" / "found.txt"
    assert found.read_text().strip() == str(copies[0].abspath)  # `nora -s` inside the job
    # P003 has no T1: its job is an error, the filter bar finds it with JOB:e
    assert "P003" in err and "t1*/s0*.nii" in err
    from nora_server.batch.archive_link import install_job_filter
    install_job_filter()
    assert [r.ref for r in admin.studies("demo", {"id": "JOB:e"})] == ["P003#S1"]
    assert {r.subject for r in admin.subjects("demo", {"id": "JOB:e"})} == {"P003"}


def test_jobs_list_log_kill_and_rerun(tmp_path, monkeypatch, capsys):
    archive, admin, drop = _site(tmp_path, monkeypatch)
    try:
        assert nora_main(["-p", "demo", "--launch", json.dumps(
            {"batch": COPY_AND_QUERY, "select": ["P002", "P003"]}), "--throwerror"]) == 1
        out = capsys.readouterr().out
        launch_id = out.split()[1].rstrip(":")
        assert nora_main(["jobs", "-p", "demo", "--state", "e"]) == 0
        header, *listing = capsys.readouterr().out.splitlines()
        assert header.split()[:2] == ["id", "state"]
        assert len(listing) == 1 and "P003" in listing[0] and "error" in listing[0]
        job_id = int(listing[0].split()[0])
        assert nora_main(["jobs", "--log", str(job_id)]) == 0
        assert "matched no file" in capsys.readouterr().out
        assert nora_main(["jobs", "-p", "demo"]) == 0  # done jobs leave the default view
        assert "P002" not in capsys.readouterr().out
        assert nora_main(["jobs", "-p", "demo", "--all", "--json"]) == 0
        assert {r["subject"] for r in json.loads(capsys.readouterr().out)} == {"P002", "P003"}
        # fix the data: give P003 a T1, re-run only the failed subject
        f = tmp_path / "p3.nii"
        f.write_text("late T1")
        admin.add_files("demo", [AddItem(f, "P003#S1", "t1/s001.nii")])
        assert nora_main(["jobs", "--rerun", launch_id]) == 0
        assert "1 job(s) re-run" in capsys.readouterr().out
        from nora_server.batch.site import open_runner
        from nora_server.cli.batch_commands import _wait
        from nora_server.config import load_settings
        runner = open_runner(load_settings(), archive, admin)
        rows = runner.jobs(project="demo", include_done=True)
        new = [r for r in rows if r.launch_id != launch_id]
        assert [(r.subject, r.state) for r in _wait(runner, new[0].launch_id, 60)] == \
            [("P003", "done")]
        assert nora_main(["jobs", "--show", str(job_id)]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["target"] == "P003" and shown["batch"]["name"] == "copy and query"
        assert nora_main(["jobs", "-p", "demo", "--clear"]) == 0  # forget the done ones
        assert capsys.readouterr().out.strip() == "cleared 2 job(s)"
        assert nora_main(["jobs", "-p", "demo", "--all", "--json"]) == 0
        assert [r["state"] for r in json.loads(capsys.readouterr().out)] == ["error"]
        # a long job, killed from the command line
        sleeper = {"name": "sleep", "jobs": [{"type": "function", "function": "nora.sleep",
                                              "args": [{"type": "NUMERIC", "value": 120}]}]}
        assert nora_main(["-p", "demo", "--launch", json.dumps(sleeper), "--select",
                          "P001"]) == 0
        capsys.readouterr()
        sid = runner.jobs(project="demo", states=["queued", "running"])[0].id
        assert nora_main(["jobs", "--kill", str(sid)]) == 0
        assert "cancelled 1 job(s)" in capsys.readouterr().out
    finally:
        archive.dispose()
        drop()


def test_saved_batch_and_autoexec_queue(tmp_path, monkeypatch, capsys):
    archive, admin, drop = _site(tmp_path, monkeypatch)
    try:
        bfile = tmp_path / "batch.json"
        bfile.write_text(json.dumps(COPY_AND_QUERY))
        assert nora_main(["-p", "demo", "--savebatch", str(bfile)]) == 0
        assert admin.documents("batch", project="demo") == ["copy and query"]
        with pytest.raises(Exception):
            admin.document("settings", "autoexec", project="demo")
        assert nora_main(["-p", "demo", "--launch_autoexec", "P002"]) == 1
        assert "no autoexecution queue" in capsys.readouterr().err
        admin.save_document("settings", "autoexec", {"DEFAULT": ["copy and query"]},
                            project="demo")
        assert nora_main(["-p", "demo", "--launch_autoexec", "P002", "--throwerror",
                          "--handle_job_result"]) == 0
        assert capsys.readouterr().out.rstrip().endswith("DONE")
        assert [f.subject for f in admin.select_files("demo", "derived/t1copy.nii")] == ["P002"]
        # a saved batch launched by name, from a file
        lfile = tmp_path / "launch.json"
        lfile.write_text(json.dumps({"batch": "copy and query", "select": ["P001"]}))
        assert nora_main(["-p", "demo", "--launchfile", str(lfile), "--throwerror"]) == 0
        assert [f.subject for f in admin.select_files("demo", "derived/t1copy.nii")] == \
            ["P001", "P002"]
    finally:
        archive.dispose()
        drop()


def test_invalid_batch_is_a_clear_error(tmp_path, monkeypatch, capsys):
    archive, admin, drop = _site(tmp_path, monkeypatch)
    try:
        assert nora_main(["-p", "demo", "--launch", '{"jobs": [{"type": "bash", '
                          '"code": "cp $f1 $o1"}]}']) == 1
        assert "$f1" in capsys.readouterr().err
        # broken JSON: where it broke, for a file and for --launch (not "no saved batch")
        bad = tmp_path / "bad.json"
        bad.write_text('{"name": "x", "jobs": [\n {"name": "a", "code": "echo",}]}')
        from nora_server.cli import nora
        assert nora.main(["-p", "demo", "--launchfile", str(bad)]) == 2
        assert f"{bad} is not valid JSON: " in capsys.readouterr().err
        assert nora.main(["-p", "demo", "--launch", bad.read_text()]) == 2
        assert "--launch is not valid JSON: Expecting property name enclosed in double " \
               "quotes: line 2 column" in capsys.readouterr().err
    finally:
        archive.dispose()
        drop()


def test_slurm_batch_on_the_archive_and_noractl_test_slurm(slurm, tmp_path, monkeypatch,
                                                          capsys):
    archive, admin, drop = _site(tmp_path, monkeypatch, executor="slurm",
                                 extra=f'slurm_conf = "{slurm}"\npartition = "DPXproc"\n'
                                       'import_partition = "DPXimport"\n')
    try:
        assert noractl_main(["test", "slurm"]) == 0
        out = capsys.readouterr().out
        assert "slurm: OK" in out and "DPXimport" in out and "ran on" in out
        assert nora_main(["-p", "demo", "--launch", json.dumps(COPY_AND_QUERY),
                          "--handle_job_result"]) == 0
        out = capsys.readouterr().out
        assert "3 job(s) on slurm" in out and out.rstrip().endswith("DONE")
        copies = admin.select_files("demo", "derived/t1copy.nii", with_tags=True)
        assert [f.subject for f in copies] == ["P001", "P002"]
        assert set(copies[1].tags) == {"copy", "auto"}
        # the autoexecution queue after an import goes to the import partition
        admin.save_document("batch", "copy and query", COPY_AND_QUERY, project="demo")
        admin.save_document("settings", "autoexec", {"DEFAULT": ["copy and query"]},
                            project="demo")
        assert nora_main(["-p", "demo", "--launch_autoexec", "P002#S1", "--throwerror"]) == 0
        from nora_server.batch.client import BatchClient
        (row,) = BatchClient(admin).jobs("demo", launch_id=None, states=["done"],
                                         search="autoexec")
        part = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "Partition", "-j",
                               row["scheduler_id"]], capture_output=True, text=True).stdout
        assert part.split() == ["DPXimport"]
    finally:
        archive.dispose()
        drop()


def test_jobs_table_columns_fit_long_study_ids(capsys):
    """Study ids with a time (NORA's ``YYYYMMDDhhmmss``) and Slurm array ids keep the columns
    aligned; a multi-line message stays on its job's line."""
    from datetime import datetime
    from types import SimpleNamespace

    from nora_server.cli.batch_commands import _print_rows
    when = datetime(2026, 11, 30, 7, 44)
    _print_rows([SimpleNamespace(id=7, state="done", project="demo", subject="DEMO004",
                                 study="20230815120000", batch_name="hello", scheduler="local",
                                 scheduler_id="9323_4", submitted=when, message=None),
                 SimpleNamespace(id=1234, state="error", project="a-long-project", subject="P1",
                                 study=None, batch_name="a batch with a long name",
                                 scheduler="slurm", scheduler_id="1234567_999",
                                 submitted=when, message="job 1 failed:\nexit 3")])
    header, *lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].endswith("job 1 failed: exit 3")
    for column in ("state", "project", "subject/study", "batch", "scheduler id", "submitted"):
        at = header.index(column)
        assert all(line[at - 2:at] == "  " and line[at] != " " for line in lines), column
    assert lines[0].split()[3] == "DEMO004#20230815120000"
    assert [line.split()[0] for line in lines] == ["7", "1234"]
