"""Index writes shared by adds, in-place indexing and imports (inside the caller's transaction)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, null, select, update

from nora_server.archive.models import File, FileTag, Study, StudyTag, Subject, SubjectTag, utcnow
from nora_server.archive.names import file_kind

SUBJECT_FIELDS = ("patient_id", "patient_name", "birth_date", "sex")
STUDY_FIELDS = ("study_date", "description", "modality")


def _clean(info: dict | None, fields: tuple[str, ...]) -> dict:
    out = {k: v for k, v in (info or {}).items() if k in fields and v is not None}
    for k in ("birth_date", "study_date"):
        if isinstance(out.get(k), str):
            out[k] = date.fromisoformat(out[k])
    return out


def subject_id(conn, project_id: int, pid: str, info: dict | None = None) -> int:
    """Get or create the subject ``pid``; fill in identity fields given in ``info``."""
    sid = conn.execute(select(Subject.id).where(Subject.project_id == project_id,
                                                Subject.pseudonym == pid)).scalar()
    values = _clean(info, SUBJECT_FIELDS)
    if sid is None:
        return conn.execute(insert(Subject).values(
            project_id=project_id, pseudonym=pid, created=utcnow(), **values)
        ).inserted_primary_key[0]
    if values:
        conn.execute(update(Subject).where(Subject.id == sid).values(**values))
    return sid


def study_id(conn, subject: int, key: str, info: dict | None = None) -> int:
    """Get or create the study ``key`` of a subject; fill in fields given in ``info``."""
    stid = conn.execute(select(Study.id).where(Study.subject_id == subject,
                                               Study.key == key)).scalar()
    values = _clean(info, STUDY_FIELDS)
    if stid is None:
        values.setdefault("description", "")
        values.setdefault("modality", "")
        return conn.execute(insert(Study).values(subject_id=subject, key=key, created=utcnow(),
                                                 **values)).inserted_primary_key[0]
    if values:
        conn.execute(update(Study).where(Study.id == stid).values(**values))
    return stid


def upsert_files(conn, project_id: int, entries: list[dict], *, subject_info=None,
                 study_info=None) -> list[int]:
    """Index files. ``entries``: dicts with pid, sid, path, size, checksum. Returns file ids."""
    subject_info, study_info = subject_info or {}, study_info or {}
    subjects, studies, ids = {}, {}, []
    now = utcnow()
    for e in entries:
        pid, sid = e["pid"], e["sid"]
        if pid.lower() not in subjects:
            subjects[pid.lower()] = subject_id(conn, project_id, pid, subject_info.get(pid))
        key = (pid.lower(), sid.lower())
        if key not in studies:
            studies[key] = study_id(conn, subjects[pid.lower()], sid,
                                    study_info.get(f"{pid}#{sid}"))
        st = studies[key]
        values = {"kind": file_kind(e["path"]), "size": e["size"], "checksum": e.get("checksum"),
                  "added": now}
        fid = conn.execute(select(File.id).where(File.study_id == st,
                                                 File.path == e["path"])).scalar()
        if fid is None:
            fid = conn.execute(insert(File).values(project_id=project_id, study_id=st,
                                                   path=e["path"], **values)
                               ).inserted_primary_key[0]
        else:
            conn.execute(update(File).where(File.id == fid).values(**values))
        ids.append(fid)
    return ids


_TAG_TABLES = {"file": (FileTag, FileTag.file_id), "study": (StudyTag, StudyTag.study_id),
               "subject": (SubjectTag, SubjectTag.subject_id)}


# a tag row carries its owner's project (and a file tag its file's study): (id, project, study)
_OWNERS = {"file": (File.id, select(File.id, File.project_id, File.study_id)),
           "study": (Study.id, select(Study.id, Subject.project_id, null()).join(
               Subject, Subject.id == Study.subject_id)),
           "subject": (Subject.id, select(Subject.id, Subject.project_id, null()))}


def add_tags(conn, level: str, ids: list[int], tags) -> int:
    """Tag rows (``level`` file|study|subject) with every tag; returns how many were new."""
    table, col = _TAG_TABLES[level]
    owner, owners = _OWNERS[level]
    tags = list(dict.fromkeys(t for t in tags if t))
    if not ids or not tags:
        return 0
    new = []
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        have = set(conn.execute(select(col, table.tag).where(col.in_(part),
                                                             table.tag.in_(tags))).all())
        have = {(i, t.lower()) for i, t in have}
        extra = {i: {"project_id": p, **({"study_id": s} if level == "file" else {})}
                 for i, p, s in conn.execute(owners.where(owner.in_(part)))}
        new += [{col.key: i, "tag": t, **extra[i]} for i in part if i in extra for t in tags
                if (i, t.lower()) not in have]
    if new:
        conn.execute(insert(table), new)
    return len(new)


def remove_tags(conn, level: str, ids: list[int], tags) -> int:
    from sqlalchemy import delete

    table, col = _TAG_TABLES[level]
    n = 0
    for chunk in range(0, len(ids), 500):
        n += conn.execute(delete(table).where(col.in_(ids[chunk:chunk + 500]),
                                              table.tag.in_(list(tags)))).rowcount
    return n
