"""Selecting files by pattern, output locations and file information (a session mixin).

The equivalents of NORA's ``DPX_selectFiles``, ``DPX_getOutputLocation`` and
``DPX_getFileinfo``: selection reads only the index, never the disk.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import String, cast, select

from nora_server.archive.errors import ArchiveError, NotFound
from nora_server.archive.models import File, FileTag, Project, Study, Subject
from nora_server.archive.names import check_relpath, split_ref
from nora_server.archive.patterns import has_wildcards, like, matches
from nora_server.archive.records import FileInfo, bulk


def parse_file_ref(text: str) -> tuple[str | None, str]:
    """``"PID#SID/t1*/s0*.nii"`` -> ``("PID#SID", "t1*/s0*.nii")``; a first component without
    ``#`` is part of the pattern: ``"t1*/s0*.nii"`` -> ``(None, "t1*/s0*.nii")``.
    ``"PID#/annotations/x.json"`` refers to the subject folder (``("PID#", ...)``)."""
    first, sep, rest = text.partition("/")
    if "#" in first:
        return first, rest
    return None, text


class SelectionMixin:
    # the time comes back as text, parsed by datetime.fromisoformat (fast) in _infos
    _FILE_COLS = (File.id, Project.name, Project.path, Subject.pseudonym, Study.key, File.path,
                  File.kind, File.size, File.checksum, cast(File.added, String))

    def _file_query(self, proj=None):
        """Files with their study and subject (and project, unless ``proj`` is given: then
        the rows leave out the project's name and folder, which :meth:`_infos` fills in)."""
        if proj is not None:
            return (select(*(self._FILE_COLS[:1] + self._FILE_COLS[3:]))
                    .join(Study, File.study_id == Study.id)
                    .join(Subject, Study.subject_id == Subject.id))
        return (select(*self._FILE_COLS).join(Study, File.study_id == Study.id)
                .join(Subject, Study.subject_id == Subject.id)
                .join(Project, Subject.project_id == Project.id))

    def _infos(self, conn, rows_, with_tags: bool, proj=None) -> list[FileInfo]:
        tags: dict[int, list[str]] = {}
        if with_tags and rows_:
            ids = [r[0] for r in rows_]
            for k in range(0, len(ids), 500):
                for fid, tag in conn.execute(select(FileTag.file_id, FileTag.tag).where(
                        FileTag.file_id.in_(ids[k:k + 500]))):
                    tags.setdefault(fid, []).append(tag)
        sorted_tags = {fid: tuple(sorted(t, key=str.lower)) for fid, t in tags.items()}
        out, roots, times, new = [], {}, {}, tuple.__new__
        if proj is not None:  # one project: its name and folder are not in the rows
            name, root = proj.name, str(proj.root)
            rows_ = ((fid, name, None, *rest) for fid, *rest in rows_)
            roots[name] = root
        for fid, name, ppath, pid, sid, path, kind, size, checksum, added in rows_:
            root = roots.get(name) or roots.setdefault(name, str(self._root(name, ppath)))
            when = times.get(added) or times.setdefault(added, datetime.fromisoformat(added))
            out.append(new(FileInfo, (fid, name, pid, sid, path, root, kind, size, checksum,
                                      when, sorted_tags.get(fid, ()))))
        return out

    def _file_infos(self, ids: list[int], with_tags: bool = True) -> list[FileInfo]:
        with self.engine.connect() as conn:
            rows_ = []
            for k in range(0, len(ids), 500):
                rows_ += conn.execute(self._file_query().where(File.id.in_(ids[k:k + 500]))).all()
            order = {fid: n for n, fid in enumerate(ids)}
            rows_.sort(key=lambda r: order[r[0]])
            return self._infos(conn, rows_, with_tags)

    def select_files(self, project: str, pattern: str = "*", *, ref: str | None = None,
                     tags=(), with_tags: bool = False) -> list[FileInfo]:
        """Files whose study-relative path matches ``pattern`` (NORA's ``DPX_selectFiles``).

        ``pattern``: ``*`` any run, ``_`` one character, e.g. ``"t1*/s0*.nii"``; it may start
        with a study reference ``"PID#SID/"`` (wildcards allowed there too). ``ref`` restricts
        to subjects/studies (``"PID"``, ``"PID#SID"``, ``"P0*#*"``). ``tags``: every tag must be
        on the file. Sorted by subject, study, path.
        """
        inline, pattern = parse_file_ref(pattern)
        ref = inline or ref
        proj = self._project(project)
        q = self._file_query(proj).where(File.project_id == proj.id)
        if pattern not in ("", "*"):
            q = q.where(like(File.path, pattern))
        if ref:
            pid, sid = split_ref(ref)
            if pid not in ("", "*"):
                q = q.where(like(Subject.pseudonym, pid))
            if sid not in (None, "*"):
                q = q.where(like(Study.key, sid))
        for tag in tags:
            q = q.where(File.id.in_(select(FileTag.file_id).where(
                FileTag.project_id == proj.id, FileTag.tag == tag)))
        with self.engine.connect() as conn, bulk():
            rows_ = conn.execute(q.order_by(Subject.pseudonym, Study.key, File.path)).all()
            return self._infos(conn, rows_, with_tags, proj)

    def study_files(self, project: str, ref: str, *, with_tags: bool = True) -> list[FileInfo]:
        """Every file of one study (``"PID#SID"``, matched exactly: ``_`` is no wildcard
        here), sorted by path, with their tags: what a file tree of the study shows
        (``FileInfo.series`` is the folder, ``FileInfo.path`` the study-relative path).

        >>> [(f.series, f.path.rpartition("/")[2]) for f in s.study_files("demo", "P001#S1")]
        ... # doctest: +SKIP
        [('dwi', 's003.nii.gz'), ('t1_mprage', 's001.nii'), ...]
        """
        proj = self._project(project)
        if split_ref(ref)[1] is None:
            raise ArchiveError(f"{ref!r} is not a study reference: use PID#SID")
        with self.engine.connect() as conn:
            _, study = self._study_id(conn, proj, ref)
            rows_ = conn.execute(self._file_query(proj).where(File.study_id == study)
                                 .order_by(File.path)).all()
            return self._infos(conn, rows_, with_tags, proj)

    def resolve_path(self, path) -> tuple[str, str, str, str]:
        """An absolute path inside a project folder -> ``(project, PID, SID, relpath)``."""
        full = Path(os.path.abspath(path))
        with self.engine.connect() as conn:
            external = conn.execute(select(Project.name, Project.path)
                                    .where(Project.path.is_not(None))).all()
        parts = None
        for name, ppath in external:
            if full.is_relative_to(ppath):
                parts = (name, *full.relative_to(ppath).parts)
        if parts is None and full.is_relative_to(self.archive.storage):
            parts = full.relative_to(self.archive.storage).parts
        if parts is None or len(parts) < 4:
            raise ArchiveError(f"{path} is not inside a study folder of a project "
                               f"(<storage>/<project>/<subject>/<study>/...; storage is "
                               f"{self.archive.storage})")
        return parts[0], parts[1], parts[2], check_relpath("/".join(parts[3:]))

    def file_info(self, target, *, project: str | None = None) -> FileInfo:
        """Information on one indexed file, with its tags (``DPX_getFileinfo``).

        ``target``: an absolute path, a :class:`FileInfo`, or ``"PID#SID/path"`` with
        ``project``.
        """
        if isinstance(target, FileInfo):
            return target
        text = str(target)
        ref, rel = parse_file_ref(text)
        if not os.path.isabs(text):
            if not ref or not project:
                raise ArchiveError(f"{text!r}: give an absolute path, or PID#SID/path and a "
                                   "project")
            (pid, sid), rel = split_ref(ref), check_relpath(rel)
        else:
            project, pid, sid, rel = self.resolve_path(text)
        proj = self._project(project)
        with self.engine.connect() as conn:
            rows_ = conn.execute(self._file_query().where(
                Subject.project_id == proj.id, Subject.pseudonym == pid, Study.key == sid,
                File.path == rel)).all()
            if not rows_:
                raise NotFound(f"{text} is not in the archive (project {project!r})")
            return self._infos(conn, rows_, True)[0]

    def output_location(self, project: str, ref: str, path: str, *, folder: bool = False,
                        create: bool = True) -> Path:
        """Absolute path for an output (``DPX_getOutputLocation``; ``nora -o`` / ``-pa``).

        ``ref``: ``"PID#SID"`` (study folder) or ``"PID"`` (subject folder), which must exist.
        ``path``: study-relative; wildcards in its folder part pick the one existing series
        folder they match (``"t1*/mask.nii"``). ``folder``: ``path`` names a folder. The parent
        folder (or the folder) is created unless ``create`` is false.
        """
        proj = self._project(project, "write")
        pid, sid = split_ref(ref)
        with self.engine.connect() as conn:
            _, study = self._study_id(conn, proj, ref)
            head, _, name = path.replace("\\", "/").rstrip("/").rpartition("/")
            if folder:
                head, name = path.rstrip("/"), ""
            if has_wildcards(name):
                raise ArchiveError(f"output name {name!r} must not contain wildcards (* or _ "
                                   "are only allowed in the folder part)")
            if has_wildcards(head):
                head = self._match_folder(conn, study, head, ref)
        base = proj.root / pid / sid if sid else proj.root / pid
        rel = check_relpath("/".join(p for p in (head, name) if p))
        out = base / rel
        if create:
            (out if folder else out.parent).mkdir(parents=True, exist_ok=True)
        return out

    def _match_folder(self, conn, study: int | None, pattern: str, ref: str) -> str:
        if study is None:
            raise ArchiveError(f"wildcards in an output folder need a study reference (PID#SID),"
                               f" not {ref!r}")
        paths = conn.execute(select(File.path).where(File.study_id == study)).scalars()
        folders = sorted({p.rpartition("/")[0] for p in paths} - {""})
        hits = [f for f in folders if matches(pattern, f)]
        if len(hits) != 1:
            raise ArchiveError(f"output folder pattern {pattern!r} matches {len(hits)} folders "
                               f"in {ref} ({', '.join(hits) or 'none'}): it must match exactly one")
        return hits[0]

