"""Adding, indexing and deleting files, subjects and studies (a session mixin).

Every change on disk goes through the journal (:mod:`nora_server.archive.journal`): a killed
process leaves nothing half-written once :meth:`Archive.recover` has run.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete

from nora_server.archive import journal, rows
from nora_server.archive.errors import AlreadyExists, ArchiveError, NotFound
from nora_server.archive.models import File, Study, Subject
from nora_server.archive.names import check_relpath, check_segment, split_ref
from nora_server.archive.selection import SelectionMixin
from nora_server.archive.tags import split_tags

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class AddItem:
    """One file to add: ``source`` is copied to ``<ref's study folder>/<path>``.

    ``move``: rename ``source`` into the archive instead of copying it (a temporary file of
    the caller's, on the storage file system; copied when it lies on another one). Should the
    add fail or be rolled back, the file is put back at ``source``."""

    source: Path
    ref: str  # "PID#SID"
    path: str  # study-relative, e.g. "t1_mprage/s001.nii"
    move: bool = False


def copy_hashed(src: Path, dst: Path, progress=None) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` (not yet fsynced: :func:`fsync_path`); return size and sha256.
    ``progress(n)`` is called with the number of bytes of each chunk copied."""
    h, n = hashlib.sha256(), 0
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(CHUNK):
            h.update(chunk)
            fo.write(chunk)
            n += len(chunk)
            if progress is not None:
                progress(len(chunk))
            journal.checkpoint("add:copying")
    return n, h.hexdigest()


def hash_file(path: Path, progress=None) -> tuple[int, str]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return n, h.hexdigest()


def fsync_path(path) -> None:
    """Flush a file's data, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _take(src: str, temp: str) -> bool:
    """Rename ``src`` to ``temp``; False (nothing done) when they lie on different devices."""
    try:
        os.rename(src, temp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return False
    return True


def _write_temps(entries: list[dict], progress) -> None:
    """Fill each entry's temporary file (moved in, else copied) and its size and checksum;
    return once all are on disk. The fsyncs run in threads while the next files are hashed
    or copied (both release the GIL): a moved file is read from the page cache as it is
    written out."""
    with ThreadPoolExecutor(4) as pool:
        syncs = []
        for e in entries:
            if e["move"] and _take(e["src"], e["temp"]):
                journal.checkpoint("add:taken")
                syncs.append(pool.submit(fsync_path, e["temp"]))
                e["size"], e["checksum"] = hash_file(Path(e["temp"]), progress)
            else:
                e["size"], e["checksum"] = copy_hashed(Path(e["src"]), Path(e["temp"]),
                                                       progress)
                syncs.append(pool.submit(fsync_path, e["temp"]))
        for f in syncs:
            f.result()


def _sync_folders(paths) -> None:
    """fsync the folders holding ``paths`` (renames and new folders reach the disk)."""
    folders = sorted({os.path.dirname(p) for p in paths})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fsync_path, folders))


def _missing_dirs(path: Path, stop: Path) -> list[str]:
    out = []
    while path != stop and not path.exists():
        out.append(str(path))
        path = path.parent
    return out[::-1]


class FilesMixin(SelectionMixin):
    def add_files(self, project: str, items: list[AddItem], *, tags=(), overwrite: bool = False,
                  subject_info: dict | None = None, study_info: dict | None = None,
                  progress=None):
        """Copy (or move: :class:`AddItem`) files into the archive and index them, all or
        nothing.

        Subjects and studies are created when missing (``subject_info``: ``{pid: {patient_id,
        patient_name, birth_date, sex}}``, ``study_info``: ``{"PID#SID": {study_date,
        description, modality}}``). An existing file is replaced only with ``overwrite``.
        ``progress(n)`` is called as bytes are copied (the total is the sum of the sources'
        sizes): an upload dialog's progress bar. Returns the new :class:`FileInfo` records.
        """
        ref = self._project(project, "write")
        tags = split_tags(tags)
        plan, entries, dests, taken = journal.new_plan(), [], set(), set()
        for i, item in enumerate(items):
            pid, sid = split_ref(item.ref)
            if sid is None:
                raise ArchiveError(f"{item.ref!r} is not a study reference: use PID#SID")
            check_segment(pid, "subject")
            check_segment(sid, "study")
            rel = check_relpath(item.path)
            src = Path(item.source)
            if not src.is_file():
                raise NotFound(f"cannot add {src}: no such file")
            dest = ref.root / pid / sid / rel
            if str(dest).lower() in dests:
                raise ArchiveError(f"{item.ref}/{rel} is given twice")
            dests.add(str(dest).lower())
            if os.path.lexists(dest):
                if not overwrite:
                    raise AlreadyExists(f"{dest} exists already: pass overwrite (nora: "
                                        "--overwrite) to replace it")
                backup = dest.parent / f"{journal_prefix('old', plan, i)}"
                plan["moves"].append([str(dest), str(backup)])
                plan["discard"].append(str(backup))
            for d in _missing_dirs(dest.parent, ref.root):
                if d not in plan["mkdirs"]:
                    plan["mkdirs"].append(d)
            temp = dest.parent / journal_prefix("tmp", plan, i)
            plan["temps"].append(str(temp))
            plan["moves"].append([str(temp), str(dest)])
            if item.move:
                if str(src) in taken:
                    raise ArchiveError(f"{src} is given twice to be moved")
                taken.add(str(src))
                plan["sources"].append([str(src), str(temp)])
            entries.append({"pid": pid, "sid": sid, "path": rel, "src": str(src),
                            "temp": str(temp), "move": item.move, "dest": str(dest)})
        if not entries:
            return []
        journal.begin(self.engine, plan)
        try:
            journal.make_dirs(plan)
            _write_temps(entries, progress)
            journal.checkpoint("add:copied")
            journal.do_moves(self.engine, plan)
            _sync_folders([e["dest"] for e in entries] + plan["mkdirs"])
            journal.checkpoint("add:moved")
            with self.engine.begin() as conn:
                ids = rows.upsert_files(conn, ref.id, entries, subject_info=subject_info,
                                        study_info=study_info)
                rows.add_tags(conn, "file", ids, tags)
                journal.mark_committed(conn, plan)
        except BaseException:
            journal.rollback(self.engine, plan)
            raise
        journal.checkpoint("add:committed")
        journal.finish(self.engine, plan)
        log.info("added %d file(s) to %s", len(ids), ref.name)
        return self._file_infos(ids)

    def add_file(self, project: str, source, ref: str, path: str | None = None, **kw):
        """Add one file; ``path`` defaults to the source's name at the study level."""
        return self.add_files(project, [AddItem(Path(source), ref, path or Path(source).name)],
                              **kw)[0]

    def index_files(self, paths, *, tags=()) -> list:
        """Index files that already lie in a project's folder (``nora -a`` inside jobs)."""
        tags = split_tags(tags)
        entries: dict[str, list[dict]] = {}
        refs = {}
        for p in paths:
            project, pid, sid, rel = self.resolve_path(p)
            if project not in refs:
                refs[project] = self._project(project, "write")
            full = refs[project].root / pid / sid / rel
            if not full.is_file():
                raise NotFound(f"cannot index {p}: no such file")
            size, digest = hash_file(full)
            entries.setdefault(project, []).append(
                {"pid": pid, "sid": sid, "path": rel, "size": size, "checksum": digest})
        ids = []
        with self.engine.begin() as conn:
            for project, ents in entries.items():
                got = rows.upsert_files(conn, refs[project].id, ents)
                rows.add_tags(conn, "file", got, tags)
                ids += got
        return self._file_infos(ids)

    def delete_files(self, targets, project: str | None = None) -> int:
        """Delete files (index entry and file on disk). ``targets``: absolute paths, or
        ``PID#SID/path`` references in ``project``, or :class:`FileInfo` records."""
        infos = [self.file_info(t, project=project) for t in targets]
        for name in {i.project for i in infos}:
            self._project(name, "write")
        plan = journal.new_plan()
        for i, info in enumerate(infos):
            if os.path.lexists(info.abspath):
                trash = info.abspath.parent / journal_prefix("del", plan, i)
                plan["moves"].append([str(info.abspath), str(trash)])
                plan["discard"].append(str(trash))
        self._delete_rows(plan, [(File, [i.id for i in infos])])
        return len(infos)

    def delete_refs(self, project: str, refs) -> int:
        """Delete subjects (``PID``) or studies (``PID#SID``) with their folders (``nora -dp``).
        Returns how many subjects and studies were deleted."""
        ref = self._project(project, "write")
        plan, subjects, studies = journal.new_plan(), {}, {}
        with self.engine.connect() as conn:
            for r in refs:
                subj, study = self._study_id(conn, ref, r)
                pid, sid = split_ref(r)
                if study is None:
                    subjects[subj] = ref.root / pid
                else:
                    studies[study] = (subj, ref.root / pid / sid)
        studies = {k: v for k, v in studies.items() if v[0] not in subjects}
        folders = list(subjects.values()) + [f for _, f in studies.values()]
        for i, folder in enumerate(folders):
            if folder.exists():
                trash = ref.root / journal_prefix("del", plan, i)
                plan["moves"].append([str(folder), str(trash)])
                plan["discard"].append(str(trash))
        self._delete_rows(plan, [(Study, list(studies)), (Subject, list(subjects))])
        return len(studies) + len(subjects)

    def _delete_rows(self, plan: dict, batches) -> None:
        journal.begin(self.engine, plan)
        try:
            journal.do_moves(self.engine, plan)
            journal.checkpoint("delete:moved")
            with self.engine.begin() as conn:
                for model, ids in batches:
                    for k in range(0, len(ids), 500):
                        conn.execute(delete(model).where(model.id.in_(ids[k:k + 500])))
                journal.mark_committed(conn, plan)
        except BaseException:
            journal.rollback(self.engine, plan)
            raise
        journal.finish(self.engine, plan)

    def create_subject(self, project: str, pseudonym: str, **info) -> None:
        """Create (or update) a subject; ``info``: patient_id, patient_name, birth_date, sex."""
        ref = self._project(project, "write")
        check_segment(pseudonym, "subject")
        with self.engine.begin() as conn:
            rows.subject_id(conn, ref.id, pseudonym, info)

    def create_study(self, project: str, study_ref: str, **info) -> None:
        """Create (or update) a study ``PID#SID``; ``info``: study_date, description, modality."""
        ref = self._project(project, "write")
        pid, sid = split_ref(study_ref)
        if sid is None:
            raise ArchiveError(f"{study_ref!r} is not a study reference: use PID#SID")
        check_segment(pid, "subject")
        check_segment(sid, "study")
        with self.engine.begin() as conn:
            rows.study_id(conn, rows.subject_id(conn, ref.id, pid), sid, info)


def journal_prefix(what: str, plan: dict, i: int) -> str:
    return f".nora-{what}-{plan['op']}-{i}"
