"""The node's durable spool: every received instance is on disk before it is acknowledged.

Layout under the spool root::

    tmp/                          partial writes (removed on start)
    blank/                        empty files made ahead for writes to fill (removed on start)
    incoming/<study>/<sop>.dcm    received, study still open; .route.json beside the files
    ready/<study>.<ns>/           a quiet study claimed for import (atomic rename)
    failed/<study>.<ns>/          an import that failed, with error.txt

Writes are temp file + fsync + rename + fsync of the folder, so after a crash an instance is
either whole in ``incoming`` or absent (and was never acknowledged). A restart resumes:
``incoming`` studies are timed from their newest file, ``ready`` studies are imported again.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

_SAFE_UID = re.compile(r"^[0-9A-Za-z.\-]{1,64}$")


def _safe_name(uid: str) -> str:
    uid = str(uid).strip().rstrip("\0")
    if _SAFE_UID.match(uid) and uid not in (".", ".."):
        return uid
    import hashlib
    return "x" + hashlib.sha1(uid.encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, tmp_dir: Path, fsync: bool = True,
                 blank: Path | None = None) -> None:
    """Write ``data`` to ``path`` so that it appears whole or not at all.

    ``blank``: an empty file made ahead on the same file system (:class:`Blanks`) to fill
    instead of creating one in ``tmp_dir``."""
    fd = None
    if blank is not None:
        try:
            fd, tmp = os.open(blank, os.O_WRONLY), blank
        except FileNotFoundError:  # removed by a restart of the spool meanwhile
            pass
    if fd is None:
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


class Blanks:
    """Empty files made ahead by a daemon thread, for :func:`write_atomic` to fill.

    Creating a file (an inode) is the dearest step of a spool write on some file systems:
    0.6 ms of CPU on this VM's ext4, more than writing and fsyncing a 128 KiB instance. A
    sender waits for each acknowledgement, so that step is taken off its path. Until the
    rename, a filled blank is as partial as any temp file (the folder is emptied on start)."""

    def __init__(self, folder: Path, ahead: int = 32):
        self.folder, self.ahead = folder, ahead
        self._files: collections.deque[Path] = collections.deque()
        self._low = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def take(self) -> Path | None:
        """An empty file, or None when none is ready (the caller then creates its own)."""
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._fill, daemon=True,
                                                    name="nora-spool-blanks")
                    self._thread.start()
        try:
            blank = self._files.popleft()
        except IndexError:
            blank = None
        if len(self._files) < self.ahead // 2:
            self._low.set()
        return blank

    def _fill(self) -> None:
        while True:
            self._low.wait()
            self._low.clear()
            try:
                while len(self._files) < self.ahead:
                    path = self.folder / f"{uuid.uuid4().hex}.blank"
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
                    self._files.append(path)
            except OSError as exc:  # e.g. disk full: writes then create their own files
                log.warning("spool: could not make blank files: %s", exc)


class Spool:
    """Durable store of received instances, grouped by study, with quiet-study claiming."""

    def __init__(self, root: Path, *, fsync: bool = True):
        self.root = Path(root)
        self.fsync = fsync
        self.tmp = self.root / "tmp"
        self.blank = self.root / "blank"
        self.incoming = self.root / "incoming"
        self.ready = self.root / "ready"
        self.failed = self.root / "failed"
        for d in (self.tmp, self.blank, self.incoming, self.ready, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        for part in [*self.tmp.iterdir(), *self.blank.iterdir()]:  # never acknowledged
            part.unlink(missing_ok=True)
        self._blanks = Blanks(self.blank)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[object, set[str]] = {}  # open association -> studies it delivered
        self._writing: dict[str, int] = {}        # study -> instances being written now
        now = time.monotonic()
        for study in self.incoming.iterdir():  # resume: age from the newest file on disk
            newest = max((f.stat().st_mtime for f in study.iterdir()), default=time.time())
            self._last[study.name] = now - max(0.0, time.time() - newest)

    def store(self, study_uid: str, sop_uid: str, data: bytes, route: dict | None = None, *,
              holder: object = None) -> Path:
        """Write one instance durably; returns its path. Raises OSError when it could not.

        ``holder`` (the association) keeps the study from being quiet until :meth:`release`.
        The lock covers only the bookkeeping: instances of several associations are written
        and fsynced in parallel, and a study is never claimed while one of its instances is
        being written (``_writing``)."""
        name = _safe_name(study_uid)
        folder = self.incoming / name
        with self._lock:
            self._writing[name] = self._writing.get(name, 0) + 1
            if holder is not None:
                self._held.setdefault(holder, set()).add(name)
            try:
                if not folder.is_dir():
                    folder.mkdir()
                    if self.fsync:
                        _fsync_dir(self.incoming)
                    if route is not None:
                        write_atomic(folder / ".route.json", json.dumps(route).encode(),
                                     tmp_dir=self.tmp, fsync=self.fsync)
            except BaseException:
                self._writing[name] -= 1
                raise
        try:
            path = folder / f"{_safe_name(sop_uid)}.dcm"
            write_atomic(path, data, tmp_dir=self.tmp, fsync=self.fsync,
                         blank=self._blanks.take())
        finally:
            with self._lock:
                self._writing[name] -= 1
                if not self._writing[name]:
                    del self._writing[name]
                self._last[name] = time.monotonic()
        return path

    def release(self, holder: object) -> None:
        """The association ended: its studies start counting quiet time now."""
        with self._lock:
            now = time.monotonic()
            for name in self._held.pop(holder, ()):
                if name in self._last:
                    self._last[name] = now

    def quiet_studies(self, quiet_s: float) -> list[str]:
        """Studies in ``incoming`` that received nothing for ``quiet_s`` seconds and that no
        open association is still delivering."""
        now = time.monotonic()
        with self._lock:
            busy = set().union(*self._held.values()) if self._held else set()
            busy |= set(self._writing)
            return [s for s, t in self._last.items() if now - t >= quiet_s and s not in busy]

    def claim(self, study: str) -> Path | None:
        """Move a study from ``incoming`` to ``ready`` (atomically); None if it is gone."""
        with self._lock:
            src = self.incoming / study
            if study in self._writing:  # an instance is landing right now: not quiet
                return None
            self._last.pop(study, None)
            if not src.is_dir():
                return None
            dst = self.ready / f"{study}.{time.time_ns()}"
            os.rename(src, dst)
            if self.fsync:
                _fsync_dir(self.ready)
                _fsync_dir(self.incoming)
            return dst

    def claimed(self) -> list[Path]:
        """Studies claimed but not finished (a restart imports them again)."""
        return sorted(p for p in self.ready.iterdir() if p.is_dir())

    def done(self, claimed: Path) -> None:
        shutil.rmtree(claimed)

    def fail(self, claimed: Path, reason: str) -> Path:
        dst = self.failed / claimed.name
        os.rename(claimed, dst)
        (dst / "error.txt").write_text(reason)
        return dst

    @staticmethod
    def route_of(folder: Path) -> dict:
        try:
            return json.loads((Path(folder) / ".route.json").read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def instances(folder: Path) -> list[Path]:
        return sorted(Path(folder).glob("*.dcm"))


class StudyWatcher:
    """Background thread: claims quiet studies and hands each to ``on_study(folder, route)``.

    ``on_study`` returns normally on success (the spool copy is then removed) or raises (the
    study moves to ``failed`` with the reason). Studies left in ``ready`` by a previous run are
    handed over first.
    """

    def __init__(self, spool: Spool, on_study, *, quiet_s: float = 30.0, poll_s: float = 0.5):
        self.spool, self.on_study = spool, on_study
        self.quiet_s, self.poll_s = quiet_s, poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nora-study-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        for folder in self.spool.claimed():
            self._hand_over(folder)
        while not self._stop.wait(self.poll_s):
            self.sweep()

    def sweep(self) -> int:
        """Claim and hand over every quiet study now; returns how many."""
        n = 0
        for study in self.spool.quiet_studies(self.quiet_s):
            folder = self.spool.claim(study)
            if folder is not None:
                self._hand_over(folder)
                n += 1
        return n

    def _hand_over(self, folder: Path) -> None:
        try:
            self.on_study(folder, self.spool.route_of(folder))
        except Exception as exc:  # keep the node alive; the study waits in failed/
            log.exception("import of spooled study %s failed", folder.name)
            self.spool.fail(folder, f"{type(exc).__name__}: {exc}")
        else:
            self.spool.done(folder)
