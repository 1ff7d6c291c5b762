"""Tags, JSON documents and notifications (a session mixin)."""

from __future__ import annotations

import json

from sqlalchemy import delete, insert, select, update

from nora_server.archive import rows
from nora_server.archive.errors import ArchiveError, NotFound
from nora_server.archive.models import (Document, Notification, Study, StudyTag, Subject,
                                        SubjectTag, User, utcnow)
from nora_server.archive.names import split_ref
from nora_server.archive.records import FileInfo

DOC_KINDS = ("metadata", "batch", "settings", "share", "state")


def split_tags(text: str | list | tuple) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (lists pass through, blanks dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    tags = [t.strip() for t in items if t and t.strip()]
    for t in tags:
        if len(t) > 128:
            raise ArchiveError(f"tag {t[:20]!r}... is longer than 128 characters")
    return tags


class TagsMixin:
    # -- tags ----------------------------------------------------------------------------
    def tag_files(self, files: list[FileInfo], tags, *, remove: bool = False) -> int:
        """Add (or remove) tags on files; returns how many tag links changed."""
        tags = split_tags(tags)
        for name in {f.project for f in files}:
            self._project(name, "write")
        with self.engine.begin() as conn:
            ids = [f.id for f in files]
            return (rows.remove_tags if remove else rows.add_tags)(conn, "file", ids, tags)

    def tag(self, project: str, ref: str, tags, *, remove: bool = False) -> int:
        """Add (or remove) tags on a subject (``"PID"``) or a study (``"PID#SID"``)."""
        tags = split_tags(tags)
        proj = self._project(project, "write")
        with self.engine.begin() as conn:
            subject, study = self._study_id(conn, proj, ref)
            level, ident = ("study", study) if study else ("subject", subject)
            return (rows.remove_tags if remove else rows.add_tags)(conn, level, [ident], tags)

    def tags(self, project: str, ref: str) -> list[str]:
        """Tags on a subject (``"PID"``) or a study (``"PID#SID"``)."""
        proj = self._project(project)
        with self.engine.connect() as conn:
            subject, study = self._study_id(conn, proj, ref)
            if study:
                q = select(StudyTag.tag).where(StudyTag.study_id == study)
            else:
                q = select(SubjectTag.tag).where(SubjectTag.subject_id == subject)
            return sorted(conn.execute(q).scalars())

    # -- tags of many table rows at once (the subject/study table's context menu) -----------
    def _tags_by_id(self, conn, level: str, project_id: int, ids) -> dict[int, tuple[str, ...]]:
        """``{subject or study id: sorted tags}`` for ``ids`` (ids without tags are left out)."""
        if not ids:
            return {}
        table = SubjectTag if level == "subject" else StudyTag
        col = table.subject_id if level == "subject" else table.study_id
        q = select(col, table.tag)
        whole = q.where(table.project_id == project_id)
        ids = set(ids)
        out: dict[int, list[str]] = {}
        if len(ids) > 2000:  # a large part of the table: every tag of the project is cheaper
            found = conn.execute(whole)
        else:
            found = [r for k in range(0, len(ids), 500)
                     for r in conn.execute(q.where(col.in_(sorted(ids)[k:k + 500])))]
        for i, t in found:
            if i in ids:
                out.setdefault(i, []).append(t)
        return {i: tuple(sorted(v, key=str.lower)) for i, v in out.items()}

    def _row_ids(self, conn, proj, refs) -> tuple[dict[str, int], dict[str, int]]:
        """``refs`` ("PID" / "PID#SID", exact) -> ({ref: subject id}, {ref: study id})."""
        wanted = [split_ref(r) for r in refs]
        pids = sorted({pid for pid, _ in wanted})
        few = len(pids) <= 500  # a few rows: look them up; else read the project's list
        q = select(Subject.pseudonym, Subject.id).where(Subject.project_id == proj.id)
        subjects = {p.lower(): i for p, i in conn.execute(
            q.where(Subject.pseudonym.in_(pids)) if few else q)}
        study_of = {}
        if any(sid for _, sid in wanted):
            q = select(Study.subject_id, Study.key, Study.id)
            q = (q.where(Study.subject_id.in_(list(subjects.values()))) if few else
                 q.join(Subject, Subject.id == Study.subject_id)
                 .where(Subject.project_id == proj.id))
            study_of = {(s, k.lower()): i for s, k, i in conn.execute(q)}
        subj, study = {}, {}
        for ref, (pid, sid) in zip(refs, wanted):
            if pid.lower() not in subjects:
                raise NotFound(f"no subject {pid!r} in project {proj.name!r}")
            if sid is None:
                subj[ref] = subjects[pid.lower()]
            elif (subjects[pid.lower()], sid.lower()) in study_of:
                study[ref] = study_of[(subjects[pid.lower()], sid.lower())]
            else:
                raise NotFound(f"no study {sid!r} for subject {pid!r} in project {proj.name!r}")
        return subj, study

    def row_tags(self, project: str, refs) -> dict[str, tuple[str, ...]]:
        """Tags of many subjects (``"PID"``) and studies (``"PID#SID"``) in one call:
        ``{ref: sorted tags}`` for every ref given (``()`` when it has none)."""
        proj = self._project(project)
        refs = list(refs)
        with self.engine.connect() as conn:
            subj, study = self._row_ids(conn, proj, refs)
            st = self._tags_by_id(conn, "subject", proj.id, subj.values())
            tt = self._tags_by_id(conn, "study", proj.id, study.values())
        return {r: st.get(subj[r], ()) if r in subj else tt.get(study[r], ()) for r in refs}

    def tag_rows(self, project: str, refs, tags, *, remove: bool = False) -> int:
        """Add (or remove) tags on many subjects and studies at once, all or nothing (an
        unknown ref changes nothing). Returns how many tag links changed."""
        tags = split_tags(tags)
        proj = self._project(project, "write")
        refs = list(refs)
        change = rows.remove_tags if remove else rows.add_tags
        with self.engine.begin() as conn:
            subj, study = self._row_ids(conn, proj, refs)
            return (change(conn, "subject", sorted(set(subj.values())), tags)
                    + change(conn, "study", sorted(set(study.values())), tags))

    # -- JSON documents ------------------------------------------------------------------
    def _doc_owner(self, conn, project: str | None, ref: str | None, action: str) -> dict:
        if project is None:
            return {"project_id": None, "subject_id": None, "study_id": None}
        proj = self._project(project, action, conn)
        subject = study = None
        if ref:
            subject, study = self._study_id(conn, proj, ref)
        return {"project_id": proj.id, "subject_id": subject, "study_id": study}

    def _doc_where(self, kind: str, name: str, owner: dict, personal: bool):
        cols = [Document.kind == kind, Document.name == name]
        for k, v in owner.items():
            col = getattr(Document, k)
            cols.append(col.is_(None) if v is None else col == v)
        cols.append(Document.user_id == self.user_id if personal else Document.user_id.is_(None))
        return cols

    def save_document(self, kind: str, name: str, content, *, project: str | None = None,
                      ref: str | None = None, personal: bool = False) -> None:
        """Store a JSON document (replacing one of the same kind, name and owner).

        ``kind``: metadata | batch | settings | share | state. Owner: a project (``project``),
        a subject/study in it (``ref``), and/or the user (``personal``). Documents of a project
        need ``write`` on it; site-wide documents that are not personal need a site admin.
        """
        if kind not in DOC_KINDS:
            raise ArchiveError(f"document kind {kind!r} is unknown: use one of {DOC_KINDS}")
        json.dumps(content)  # fail early and clearly on content JSON cannot hold
        if project is None and not personal:
            self._require_admin("store site-wide documents")
        with self.engine.begin() as conn:
            owner = self._doc_owner(conn, project, ref, "write")
            conn.execute(delete(Document).where(*self._doc_where(kind, name, owner, personal)))
            conn.execute(insert(Document), [{"kind": kind, "name": name, "content": content,
                                             "user_id": self.user_id if personal else None,
                                             "updated": utcnow(), **owner}])

    def document(self, kind: str, name: str, *, project: str | None = None,
                 ref: str | None = None, personal: bool = False):
        with self.engine.connect() as conn:
            owner = self._doc_owner(conn, project, ref, "read")
            content = conn.execute(select(Document.content).where(
                *self._doc_where(kind, name, owner, personal))).scalar()
        if content is None:
            raise NotFound(f"no {kind} document {name!r}" + (f" in {project}" if project else "")
                           + (f" for {ref}" if ref else ""))
        return content

    def documents(self, kind: str, *, project: str | None = None, ref: str | None = None,
                  personal: bool = False) -> list[str]:
        """Names of the documents of ``kind`` with that owner."""
        with self.engine.connect() as conn:
            owner = self._doc_owner(conn, project, ref, "read")
            where = self._doc_where(kind, "", owner, personal)[2:]
            return sorted(conn.execute(select(Document.name).where(Document.kind == kind,
                                                                   *where)).scalars())

    def set_metadata(self, project: str, ref: str, name: str, content) -> None:
        """Metadata document ``name`` of a subject or study (non-imaging information)."""
        self.save_document("metadata", name, content, project=project, ref=ref)

    def metadata(self, project: str, ref: str, name: str):
        return self.document("metadata", name, project=project, ref=ref)

    # -- notifications -------------------------------------------------------------------
    def notify(self, user: str, message: str, *, level: str = "info",
               project: str | None = None) -> None:
        """Send a notification to ``user`` (to oneself, or as a project owner/site admin)."""
        with self.engine.begin() as conn:
            uid = conn.execute(select(User.id).where(User.name == user)).scalar()
            if uid is None:
                raise NotFound(f"unknown user {user!r}")
            pid = self._project(project, "read", conn).id if project else None
            if uid != self.user_id and not self.is_admin:
                if project is None:
                    raise ArchiveError("notifying another user needs a project you own")
                self._project(project, "manage", conn)
            conn.execute(insert(Notification), [{"user_id": uid, "project_id": pid,
                                                 "level": level, "message": message,
                                                 "created": utcnow(), "seen": False}])

    def notifications(self, *, unseen_only: bool = True, mark_seen: bool = False) -> list[dict]:
        q = select(Notification.id, Notification.level, Notification.message,
                   Notification.created).where(Notification.user_id == self.user_id)
        if unseen_only:
            q = q.where(Notification.seen.is_(False))
        with self.engine.begin() as conn:
            out = [dict(r._mapping) for r in conn.execute(q.order_by(Notification.id))]
            if mark_seen and out:
                conn.execute(update(Notification).where(
                    Notification.id.in_([o["id"] for o in out])).values(seen=True))
        return out
