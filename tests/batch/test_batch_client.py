"""The calls the desktop's batch tool and job monitor make (BatchClient), on a real archive
(SQLite) with the local executor: composing, previews, saved batches, launching, the job table,
markers, logs, re-runs, rights; and the autoexecution queue the DICOM import calls."""

from __future__ import annotations

import pytest

from nora_server.archive import AddItem
from nora_server.archive.errors import PermissionDenied
from nora_server.batch.archive_link import launch_autoexec
from nora_server.batch.client import BatchClient
from nora_server.batch.model import BatchError
from tests.batch.batch_helpers import COPY_AND_QUERY, make_site


@pytest.fixture
def site(tmp_path, monkeypatch):
    archive, admin, drop = make_site(tmp_path, monkeypatch, extra="local_parallel = 4\n")
    yield archive, admin, BatchClient(admin)
    archive.dispose()
    drop()


def _wait(bc, launch_id, timeout=90):
    import time
    deadline = time.monotonic() + timeout
    while bc.refresh("demo").checked:
        assert time.monotonic() < deadline, f"launch {launch_id} did not finish"
        time.sleep(0.3)
    return {r["subject"] + (f"#{r['study']}" if r["study"] else ""): r
            for r in bc.jobs("demo", launch_id=launch_id, include_done=True)}


def test_menus_and_argument_rows():
    kinds = {k["type"]: k for k in BatchClient.job_kinds()}
    assert set(kinds) == {"bash", "python", "function"}
    copy = next(f for f in kinds["function"]["functions"] if f["name"] == "nora.copy")
    assert [(a["type"], a["var"]) for a in copy["args"]] == [("FILE", "f1"), ("OUT", "o1")]
    assert {a["type"] for a in BatchClient.argument_types()} == {
        "FILE", "OUT", "PATHOUT", "NUMERIC", "STRING", "LOGICAL", "OPTION"}
    rows = BatchClient.argument_rows("bet $f1 $o1 -f $n1 && echo ${s2}",
                                     [{"type": "OUT", "name": "seg/brain.nii TAG(bet)"},
                                      {"type": "FILE", "pattern": "old*"},
                                      {"type": "FILE", "pattern": "unused*"}])
    assert [(r["type"], r["var"]) for r in rows] == [
        ("FILE", "f1"), ("OUT", "o1"), ("STRING", "s2"), ("NUMERIC", "n1")]
    assert rows[0]["pattern"] == "old*" and rows[1]["name"] == "seg/brain.nii TAG(bet)"
    with pytest.raises(BatchError, match="nora.copy needs FILE \\$f1"):
        BatchClient.validate({"jobs": [{"type": "function", "function": "nora.copy"}]})


def test_preview_shows_per_subject_what_the_job_will_get(site):
    archive, admin, bc = site
    rows = {r.target: r for r in bc.preview("demo", "t1/s0*.nii", ["P001", "P002", "P003"],
                                            study="last")}
    base = archive.storage / "demo"
    assert rows["P001"].studies == ("S2",) and rows["P001"].error is None
    assert rows["P001"].files == (str(base / "P001/S2/t1/s001.nii"),)
    assert rows["P002"].files == (str(base / "P002/S1/t1/s001.nii"),)
    assert rows["P003"].files == () and "'t1/s0*.nii' matched no file" in rows["P003"].error
    per_study = bc.preview("demo", "T1/*", ["P001"], level="study")  # case-insensitive
    assert [(r.target, len(r.files)) for r in per_study] == [("P001#S1", 1), ("P001#S2", 1)]
    by_tag = bc.preview("demo", "*", ["P001"], study="tag:none")
    assert by_tag[0].error.startswith("no study selected")


def test_save_launch_monitor_and_rerun(site):
    archive, admin, bc = site
    assert bc.save("demo", COPY_AND_QUERY) == "copy and query"
    assert bc.batches("demo") == ["copy and query"]
    assert bc.load("demo", "copy and query")["jobs"][0]["code"] == "cp $f1 $o1"
    with pytest.raises(BatchError, match="no saved batch 'nope'"):
        bc.load("demo", "nope")
    res = bc.launch("demo", "copy and query", ["P002", "P003"], resources={"time_min": 5})
    rows = _wait(bc, res.launch_id)
    assert {k: r["state"] for k, r in rows.items()} == {"P002": "done", "P003": "error"}
    assert [r["subject"] for r in bc.jobs("demo")] == ["P003"]  # done jobs leave the view
    assert bc.markers("demo")["P003"]["state"] == "error"
    assert bc.markers("demo")["P002"]["state"] == "done"
    failed = rows["P003"]
    record = bc.job(failed["id"])
    assert record["batch"]["name"] == "copy and query" and record["target"] == "P003"
    assert record["launch"]["resources"]["time_min"] == 5
    assert "matched no file" in bc.log(failed["id"])
    assert bc.launches("demo")[0]["counts"] == {"done": 1, "error": 1}
    f = archive.storage.parent / "late.nii"
    f.write_text("late T1")
    admin.add_files("demo", [AddItem(f, "P003#S1", "t1/s001.nii")])
    with pytest.raises(BatchError, match="no job 999"):
        bc.rerun_jobs([failed["id"], 999])
    again = bc.rerun_failed(res.launch_id)  # only the failed P003, not the done P002
    assert {k: r["state"] for k, r in _wait(bc, again.launch_id).items()} == {"P003": "done"}
    (again,) = bc.rerun_jobs([failed["id"]])
    assert {k: r["state"] for k, r in _wait(bc, again.launch_id).items()} == {"P003": "done"}
    assert bc.markers("demo")["P003"] == {"state": "done", "job_id": again.job_ids[0],
                                          "batch": "copy and query", "message": None}


def test_option_choices_survive_save_and_load(site):
    archive, admin, bc = site
    doc = {"name": "mode", "jobs": [{"type": "bash", "code": "echo $s1", "args": [
        {"type": "OPTION", "value": "fast", "choices": ["fast", "slow"]}]}]}
    bc.save("demo", doc)
    (arg,) = bc.load("demo", "mode")["jobs"][0]["args"]
    assert arg == {"type": "OPTION", "var": "s1", "value": "fast", "choices": ["fast", "slow"]}


def test_refresh_asks_each_scheduler_in_use_once(site):
    archive, admin, bc = site
    assert bc.refresh("demo").queries == 0  # no active job: no scheduler is asked
    res = bc.launch("demo", {"name": "sleep", "jobs": [
        {"type": "function", "function": "nora.sleep", "args": [{"type": "NUMERIC",
                                                                 "value": 60}]}]},
        ["P001", "P002"], executor="local")
    scheduler = bc.runner_for("local").scheduler
    asked, query = [], scheduler.query
    scheduler.query = lambda jobs: asked.append(sorted(jobs)) or query(jobs)
    report = bc.refresh("demo")
    assert len(asked) == 1 and len(asked[0]) == 2 and report.queries <= 1
    assert report.checked == 2 and report.error is None
    assert list(bc._runners) == ["local"]  # no other scheduler was opened
    assert bc.cancel([*res.job_ids, res.job_ids[0]]) == 2
    assert bc.refresh("demo").queries == 0


def test_readers_may_look_but_not_launch_or_kill(site):
    archive, admin, bc = site
    res = bc.launch("demo", {"name": "sleep", "jobs": [
        {"type": "function", "function": "nora.sleep", "args": [{"type": "NUMERIC",
                                                                 "value": 60}]}]}, ["P001"])
    admin.create_user("rita")
    admin.grant("rita", "demo", "reader")
    reader = BatchClient(archive.session("rita"))
    assert [r["id"] for r in reader.jobs("demo")] == res.job_ids
    with pytest.raises(PermissionDenied):
        reader.launch("demo", COPY_AND_QUERY, ["P001"])
    with pytest.raises(PermissionDenied):
        reader.cancel(res.job_ids)
    assert bc.cancel(res.job_ids) == 1
    admin.create_user("otto")  # no role on demo: sees none of its jobs
    assert BatchClient(archive.session("otto")).jobs() == []


def test_launch_autoexec_is_what_the_import_calls(site):
    archive, admin, bc = site
    with pytest.raises(BatchError, match="no autoexecution queue"):
        launch_autoexec(admin, "demo", ["P002#S1"])
    bc.save("demo", COPY_AND_QUERY)
    admin.save_document("settings", "autoexec", {"DEFAULT": ["copy and query"]},
                        project="demo")
    with pytest.raises(BatchError, match="no subject 'P404'"):
        launch_autoexec(admin, "demo", ["P404#S1"])
    res = launch_autoexec(admin, "demo", ["P001#S1", "P001#S2", "P002#S1"], "DEFAULT")
    assert len(res.job_ids) == 2  # a subject-level queue: once per subject
    rows = _wait(bc, res.launch_id)
    assert {k: r["state"] for k, r in rows.items()} == {"P001": "done", "P002": "done"}
    assert rows["P001"]["batch_name"] == "autoexec:DEFAULT"
