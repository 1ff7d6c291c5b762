"""A process killed in the middle of an add, an import or a delete leaves nothing half-written.

A child process works on the demo archive and is killed with SIGKILL: either at a named
checkpoint (``$NORA_CRASH_AT``, deterministic; ``name@N`` for its N-th pass) or from outside
while it copies a large file. After ``Archive.recover()`` the index and the disk agree, with
each operation either fully done (it had committed) or fully undone. Imports: a DICOM import
(``nora --import``: one add per series) killed while placing its second series, and "create
project from existing data" killed between two chunks of its bulk index.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from nora_server.archive.models import PendingOp, Subject, utcnow

ROOT = Path(__file__).resolve().parents[2]
CHILD = r"""
import sys
from nora_server.archive import AddItem, Archive
from nora_server.archive.db import make_engine
url, storage, action, src = sys.argv[1:5]
s = Archive(make_engine(url), storage).session("admin")
if action == "add":
    s.add_files("demo", [AddItem(src, "P001#S1", "new/big.nii"),
                         AddItem(src, "NEWSUBJ#S1", "anat/big.nii"),
                         AddItem(src, "P003#S1", "t2/s006.nii")], overwrite=True)
elif action.startswith("move"):  # sources beside src, moved in ("move_new": replacing none)
    s.add_files("demo", [AddItem(src + ".1", "P001#S1", "new/big.nii", move=True),
                         AddItem(src + ".2", "NEWSUBJ#S1", "anat/big.nii", move=True),
                         AddItem(src + ".3", "P003#S1", "t2/s006.nii", move=True)
                         ][:2 if action == "move_new" else 3], overwrite=True)
elif action == "delete":
    s.delete_files(["P001#S1/dwi/s003.nii.gz"], project="demo")
elif action == "delete_study":
    s.delete_refs("demo", ["P001#S2"])
elif action == "index":
    from nora_server.archive import indexing
    indexing.CHUNK = 2  # several chunks in a small tree
    s.create_project_from_folder("legacy", src)
elif action == "import":
    import os
    from nora_server.cli.nora import main
    from nora_server.config import Settings, write_settings
    cfg = write_settings(Settings(database=url, storage=storage), src + ".toml")
    os.environ.update(NORA_CONFIG=str(cfg), NORA_USER="admin")
    sys.exit(main(["-p", "demo", "--import", src]))
print("finished")
"""


def child(archive, action, src="", crash_at=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NORA_CRASH_AT", None)
    if crash_at:
        env["NORA_CRASH_AT"] = crash_at
    url = archive.engine.url.render_as_string(hide_password=False)
    return subprocess.Popen([sys.executable, "-c", CHILD, url, str(archive.storage), action,
                             str(src)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def disk_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_consistent(archive):
    """Every indexed file exists, every file on disk is indexed, no temporaries, no journal."""
    s = archive.session("admin")
    root = archive.storage / "demo"
    indexed = {str(f.abspath.relative_to(root)) for f in s.select_files("demo")}
    assert disk_files(root) == indexed
    assert not [p for p in root.rglob("*") if ".nora-" in p.name]
    with archive.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PendingOp)).scalar() == 0


@pytest.fixture
def big(tmp_path):
    path = tmp_path / "big.nii"
    with open(path, "wb") as f:
        f.truncate(8 << 20)  # sparse: cheap to make, eight 1 MiB copy chunks
    return path


@pytest.mark.parametrize("crash_at,committed", [
    ("add:copying", False), ("add:copied", False), ("add:moved", False),
    ("add:committed", True)])
def test_killed_add(demo, big, crash_at, committed):
    old = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    proc = child(demo, "add", big, crash_at)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    with demo.engine.connect() as conn:  # the crash left its journal entry behind
        assert conn.execute(select(func.count()).select_from(PendingOp)).scalar() == 1
    assert len(demo.recover()) == 1
    assert_consistent(demo)
    s = demo.session("admin")
    new = s.select_files("demo", "new/big.nii") + s.select_files("demo", "NEWSUBJ#*/*")
    replaced = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    if committed:
        assert [f.size for f in new] == [8 << 20, 8 << 20]
        assert replaced == bytes(8 << 20)
    else:
        assert new == [] and replaced == old
        assert not (demo.storage / "demo/P001/S1/new").exists()
        assert not (demo.storage / "demo/NEWSUBJ").exists()


@pytest.mark.parametrize("crash_at,committed", [
    ("add:taken@2", False), ("add:copied", False), ("add:moved", False),
    ("add:committed", True)])
def test_killed_move(demo, tmp_path, crash_at, committed):
    """Files moved in rather than copied: undone, each is back at its source; done, none is."""
    sources = [tmp_path / f"m.nii.{k}" for k in (1, 2, 3)]
    for k, p in enumerate(sources):
        p.write_bytes(bytes([k]) * 1000)
    old = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    proc = child(demo, "move", tmp_path / "m.nii", crash_at)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert len(demo.recover()) == 1
    assert_consistent(demo)
    s = demo.session("admin")
    new = s.select_files("demo", "new/big.nii") + s.select_files("demo", "NEWSUBJ#*/*")
    replaced = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    if committed:
        assert [f.abspath.read_bytes() for f in new] == [bytes([0]) * 1000, bytes([1]) * 1000]
        assert replaced == bytes([2]) * 1000
        assert not any(p.exists() for p in sources)
    else:
        assert new == [] and replaced == old
        assert [p.read_bytes() for p in sources] == [bytes([k]) * 1000 for k in (0, 1, 2)]
        assert not (demo.storage / "demo/NEWSUBJ").exists()


def test_killed_after_an_add_that_replaced_nothing(demo, tmp_path):
    """Nothing to discard: the journal row went with the index transaction."""
    for k in (1, 2):
        (tmp_path / f"m.nii.{k}").write_bytes(b"x")
    proc = child(demo, "move_new", tmp_path / "m.nii", "add:committed")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert demo.recover() == []
    assert_consistent(demo)
    assert len(demo.session("admin").select_files("demo", "NEWSUBJ#*/*")) == 1


@pytest.mark.parametrize("action,target", [("delete", "P001#S1/dwi/s003.nii.gz"),
                                           ("delete_study", "P001#S2/MPR_t1/s001.nii")])
def test_killed_delete_is_undone(demo, action, target):
    proc = child(demo, action, crash_at="delete:moved")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    s = demo.session("admin")
    info = s.file_info(target, project="demo")
    assert not info.abspath.exists()  # moved aside, entry still there: inconsistent until...
    demo.recover()
    assert info.abspath.exists()
    assert_consistent(demo)


def test_sigkill_from_outside_during_a_large_copy(demo, tmp_path):
    src = tmp_path / "huge.nii"
    with open(src, "wb") as f:
        f.truncate(2 << 30)  # sparse 2 GiB: the copy takes seconds
    proc = child(demo, "add", src)
    target = demo.storage / "demo/P001/S1/new"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        temps = list(target.glob(".nora-tmp-*")) if target.exists() else []
        if temps and temps[0].stat().st_size > (4 << 20):
            break
        assert proc.poll() is None, "the copy finished before it could be interrupted"
        time.sleep(0.01)
    else:
        pytest.fail("the child never started copying")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert list(target.glob(".nora-tmp-*"))  # half a file is lying there...
    demo.recover()
    assert_consistent(demo)  # ...and is gone, with no index entry
    assert not target.exists()


def test_recover_leaves_live_operations_alone(demo):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    plan = {"op": "x" * 32, "mkdirs": [], "temps": [], "moves": [], "discard": []}
    with demo.engine.begin() as conn:
        for op, pid in (("a" * 32, os.getpid()), ("b" * 32, dead.pid)):
            conn.execute(insert(PendingOp), [{"id": op, "host": os.uname().nodename, "pid": pid,
                                              "state": "started", "plan": dict(plan, op=op),
                                              "created": utcnow()}])
    assert demo.recover() == ["b" * 32]
    assert demo.recover(force=True) == ["a" * 32]


def test_killed_index_of_existing_data_leaves_no_project(demo, tmp_path, write):
    tree = tmp_path / "tree"
    for k in range(7):
        write(tree / f"S{k % 3}/V1/t1/s{k}.nii")
    proc = child(demo, "index", tree, crash_at="index:chunk@2")  # 2 of 4 chunks written
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    s = demo.session("admin")
    assert [p.name for p in s.projects()] == ["demo"]  # the transaction never committed
    with demo.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Subject)).scalar() == 3  # demo's
    assert s.create_project_from_folder("legacy", tree).files == 7  # and it can be redone
    assert disk_files(tree) == {str(f.abspath.relative_to(tree))
                                for f in s.select_files("legacy")}


@pytest.fixture
def dicom_study(tmp_path):
    """One DICOM study of two series (8 and 6 slices) in one folder."""
    import numpy as np
    import pydicom

    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import make_affine, write_dicom_series

    src = tmp_path / "dicom"
    a = write_dicom_series(tmp_path / "a", np.full((8, 8, 8), 5, np.int16),
                           make_affine(zooms=(1, 1, 2)), description="t1 mprage")
    b = write_dicom_series(tmp_path / "b", np.full((8, 8, 6), 9, np.int16),
                           make_affine(zooms=(2, 2, 2)), description="flair")
    study = pydicom.dcmread(next(a.iterdir())).StudyInstanceUID
    src.mkdir()
    for folder, number in ((a, 3), (b, 4)):
        for f in sorted(folder.iterdir()):
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID, ds.SeriesNumber = study, number
            ds.save_as(src / f"{folder.name}_{f.name}")
    return src


def imported_series(archive) -> dict[str, int]:
    """{series folder: number of indexed files} of the subjects the import created."""
    out: dict[str, int] = {}
    for f in archive.session("admin").select_files("demo"):
        if f.subject not in ("P001", "P002", "P003"):
            out[f.series.split("/")[0]] = out.get(f.series.split("/")[0], 0) + 1
    return out


def test_killed_dicom_import(demo, dicom_study):
    proc = child(demo, "import", dicom_study, crash_at="add:moved@2")  # placing series 2
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert len(demo.recover()) == 1
    assert_consistent(demo)  # no orphan file, no orphan entry
    first = imported_series(demo)
    assert len(first) == 1  # the first series is whole, the second is not there at all
    assert list((demo.storage / ".nora-import-tmp").rglob("*.nii"))  # back where it was
    proc = child(demo, "import", dicom_study)  # importing again completes the study
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert_consistent(demo)
    done = imported_series(demo)
    assert len(done) == 2 and {k: done[k] for k in first} == first
