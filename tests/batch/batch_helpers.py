"""Helpers for the batch tests: synthetic storage trees, small batches, waiting for a launch."""

from __future__ import annotations

import time
from pathlib import Path

from nora_server.batch.resolve import StudyInfo, Target


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
    import os

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
