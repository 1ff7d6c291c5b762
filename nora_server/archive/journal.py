"""Crash-safe file operations: a journal row in ``pending_ops`` per operation in flight.

An operation is planned before anything on disk changes: folders it will create, temporary
files it will write, ``sources`` (``source -> temporary`` renames of files moved in rather
than copied), ``moves`` (``src -> dst`` renames, done in order) and ``discard`` paths to
remove once the index has committed. The plan is committed to the journal first; then the
files are written; the row is marked ``moving`` and the files renamed; then the index change
and ``state = 'committed'`` are written in one transaction; then the discarded paths and the
journal row are removed (with nothing to discard, the row is removed in that transaction).

After a crash, :func:`recover` finds journal rows whose process is gone: a committed operation
is finished (discard paths removed); any other is rolled back (renames undone in reverse,
files moved in put back at their source, temporary files and new empty folders removed).
Either way nothing is left half-written: no index entry without its file, no file without its
entry.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, update

from nora_server.archive.models import PendingOp, utcnow

log = logging.getLogger(__name__)

CRASH_ENV = "NORA_CRASH_AT"  # test hook: name of a checkpoint where the process kills itself
STALE_AFTER = timedelta(hours=24)  # journal rows of other hosts older than this are recovered


_HITS: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Crash here (SIGKILL, no clean-up) if ``$NORA_CRASH_AT`` names this checkpoint
    (``name``: the first time it is reached; ``name@N``: the N-th time in this process)."""
    want = os.environ.get(CRASH_ENV)
    if not want or not want.startswith(name):
        return
    _HITS[name] = _HITS.get(name, 0) + 1
    if want == name or want == f"{name}@{_HITS[name]}":
        os.kill(os.getpid(), signal.SIGKILL)


def new_plan() -> dict:
    return {"op": uuid.uuid4().hex, "mkdirs": [], "temps": [], "sources": [], "moves": [],
            "discard": []}


def _remove(path: str) -> None:
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)


def begin(engine: Engine, plan: dict) -> None:
    """Record the plan (committed) before touching the disk."""
    with engine.begin() as conn:
        conn.execute(insert(PendingOp), [{"id": plan["op"], "host": socket.gethostname(),
                                          "pid": os.getpid(), "state": "started",
                                          "plan": plan, "created": utcnow()}])


def make_dirs(plan: dict) -> None:
    for d in plan["mkdirs"]:
        os.makedirs(d, exist_ok=True)


def do_moves(engine: Engine, plan: dict) -> None:
    """Do the renames, after recording that they start (before that, a rollback must not
    touch the destinations: a file being replaced is still in place)."""
    if plan["moves"]:
        with engine.begin() as conn:
            conn.execute(update(PendingOp).where(PendingOp.id == plan["op"])
                         .values(state="moving"))
        plan["moving"] = True
    for src, dst in plan["moves"]:
        os.replace(src, dst)


def mark_committed(conn, plan: dict) -> None:
    """Call inside the index transaction: the operation is done once this commits. With
    nothing to discard afterwards, the journal row goes in that transaction (one commit less)."""
    if plan["discard"]:
        conn.execute(update(PendingOp).where(PendingOp.id == plan["op"])
                     .values(state="committed"))
    else:
        conn.execute(delete(PendingOp).where(PendingOp.id == plan["op"]))


def finish(engine: Engine, plan: dict) -> None:
    """After the index committed: remove discarded paths, then the journal row (gone already
    when there was nothing to discard, see :func:`mark_committed`)."""
    for path in plan["discard"] + plan["temps"]:
        _remove(path)
    if plan["discard"]:
        with engine.begin() as conn:
            conn.execute(delete(PendingOp).where(PendingOp.id == plan["op"]))


def rollback(engine: Engine, plan: dict) -> None:
    """Undo an operation that did not commit (renames reversed, files moved in put back at
    their source, temporaries removed).

    Once the renames started, every temporary file was complete, so a rename was done exactly
    when its source is gone and its destination present; undo those in reverse order. A file
    was moved in exactly when its temporary name exists and its source does not.
    """
    for src, dst in reversed(plan["moves"] if plan.get("moving") else []):
        if os.path.lexists(dst) and not os.path.lexists(src):
            os.replace(dst, src)
    for src, temp in plan.get("sources", []):
        if os.path.lexists(temp) and not os.path.lexists(src):
            try:
                os.rename(temp, src)
            except OSError as exc:  # its folder is gone: it goes with the temporaries
                log.warning("could not put %s back at %s: %s", temp, src, exc)
    for path in plan["temps"]:
        _remove(path)
    for d in reversed(plan["mkdirs"]):
        try:
            os.rmdir(d)
        except OSError:
            pass  # not empty or already gone: it was not only ours
    with engine.begin() as conn:
        conn.execute(delete(PendingOp).where(PendingOp.id == plan["op"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(engine: Engine, *, force: bool = False) -> list[str]:
    """Finish or roll back operations left by dead processes; return their ids.

    An operation is considered dead when it was started on this host by a process that no
    longer exists, or on another host more than :data:`STALE_AFTER` ago (``force`` treats every
    journal row as dead: use it only when no other archive process is running).
    """
    host, now = socket.gethostname(), utcnow()
    with engine.connect() as conn:
        rows = conn.execute(select(PendingOp)).mappings().all()
    done = []
    for row in rows:
        dead = force or (row["host"] == host and row["pid"] != os.getpid()
                         and not _alive(row["pid"])) or (row["host"] != host
                                                         and now - row["created"] > STALE_AFTER)
        if not dead:
            continue
        if row["state"] == "committed":
            log.warning("finishing operation %s left by process %s", row["id"], row["pid"])
            finish(engine, row["plan"])
        else:
            log.warning("rolling back operation %s left by process %s", row["id"], row["pid"])
            rollback(engine, dict(row["plan"], moving=row["state"] == "moving"))
        done.append(row["id"])
    return done
