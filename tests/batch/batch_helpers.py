"""Helpers for the batch tests: synthetic storage trees, small batches, waiting for a launch."""

from __future__ import annotations

import time
from pathlib import Path

from nora_server.archive import AddItem
from nora_server.batch.resolve import StudyInfo, Target
from tests.server.conftest import database_url, new_archive


def make_storage(root: Path, n: int, *, missing=(), project: str = "proj") -> list[Target]:
    """``n`` subjects ``S000..``, each with an older MR and a newer CT study; the MR has
    ``t1_mprage/s001.nii`` (content ``"T1 <subject>"``) except for subjects in ``missing``."""
    targets = []
    for i in range(n):
        subj = f"S{i:03d}"
        mr = root / project / subj / "20200101_mr" / "t1_mprage"
        ct = root / project / subj / "20210101_ct" / "ct"
        mr.mkdir(parents=True)
        ct.mkdir(parents=True)
        if subj not in missing:
            (mr / "s001.nii").write_text(f"T1 {subj}")
        (ct / "ct.nii").write_text(f"CT {subj}")
        studies = (StudyInfo("20200101_mr", "2020-01-01", ("mr",), "MRI head"),
                   StudyInfo("20210101_ct", "2021-01-01", ("ct",), "CT head"))
        targets.append(Target(project, subj, studies))
    return targets


def wait_done(runner, launch_id: str, timeout: float = 120.0) -> dict:
    """Refresh until no job of the launch is queued or running; return {subject: row}."""
    deadline = time.monotonic() + timeout
    while True:
        rep = runner.refresh(launch_id=launch_id)
        if rep.checked == 0:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"launch {launch_id} not finished after {timeout} s: {rep}")
        time.sleep(0.5)
    return {r.subject + (f"#{r.study}" if r.study else ""): r
            for r in runner.jobs(launch_id=launch_id, include_done=True)}


def copy_batch(**resources) -> dict:
    """One bash job: copy the MR's T1 to derived/t1copy.nii, tagged ``copy``."""
    return {"name": "copy t1", "level": "subject", "resources": resources,
            "jobs": [{"name": "copy", "type": "bash", "code": "cp $f1 $o1",
                      "args": [{"type": "FILE", "pattern": "t1*/s0*.nii", "study": "first"},
                               {"type": "OUT", "name": "derived/t1copy.nii TAG(copy)",
                                "study": "first"}]}]}


def function_batch(function: str, *, n: float | None = None, s: str | None = None,
                   **resources) -> dict:
    args = []
    if n is not None:
        args.append({"type": "NUMERIC", "value": n})
    if s is not None:
        args.append({"type": "STRING", "value": s})
    return {"name": function, "level": "subject", "resources": resources,
            "jobs": [{"name": function, "type": "function", "function": function, "args": args}]}


def task_process_gone(row, timeout: float = 15.0) -> bool:
    """True once the task process recorded in the row's status file no longer runs."""
    import json

    pid = json.loads(Path(row.status_path).read_text())["pid"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ")[-1].startswith("Z"):  # a zombie has stopped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.2)
    return False


COPY_AND_QUERY = {"name": "copy and query", "level": "subject", "jobs": [
    {"name": "copy", "type": "bash", "code": "cp $f1 $o1",
     "args": [{"type": "FILE", "pattern": "t1*/s0*.nii", "study": "last"},
              {"type": "OUT", "name": "derived/t1copy.nii TAG(copy, auto)", "study": "last"}]},
    {"name": "ask nora", "type": "bash",
     "code": "nora -p demo -s \"$NORA_SUBJECT#*/derived/t1copy.nii\" > $o1",
     "args": [{"type": "OUT", "name": "derived/found.txt", "study": "last"}]}]}


def make_site(tmp_path, monkeypatch, backend="sqlite", executor="local", extra=""):
    """A site with project ``demo``: P001 (two MR studies), P002 (one), P003 (CT only)."""
    url, drop = database_url(backend, tmp_path)
    archive, admin = new_archive(url, tmp_path)
    src = tmp_path / "src"
    items = []
    for ref, rel in [("P001#S1", "t1/s001.nii"), ("P001#S2", "t1/s001.nii"),
                     ("P002#S1", "t1/s001.nii"), ("P003#S1", "ct/ct.nii")]:
        f = src / ref.replace("#", "_") / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"{ref} {rel}")
        items.append(AddItem(f, ref, rel))
    admin.add_files("demo", items, study_info={
        "P001#S1": {"study_date": "2020-01-10"}, "P001#S2": {"study_date": "2021-03-04"},
        "P002#S1": {"study_date": "2020-06-01"}, "P003#S1": {"study_date": "2022-09-09"}})
    config = tmp_path / "nora.toml"
    config.write_text(f'[archive]\ndatabase = "{url}"\nstorage = "{archive.storage}"\n'
                      f'[batch]\nexecutor = "{executor}"\nfolder = "{tmp_path / "jobs"}"\n'
                      + extra)
    monkeypatch.setenv("NORA_CONFIG", str(config))
    monkeypatch.setenv("NORA_USER", "admin")
    return archive, admin, drop
