"""Generate a large archive project quickly, for the archive benchmarks.

``make_database``: one project ``bench`` with ``studies`` studies (two per subject) and
``files_per_study`` files each, written with Core bulk inserts (no files on disk).
``make_tree``: the same layout as empty files on disk (for the glob anchor and for indexing).

Layout of a study (every 5th study has ``t1_trio_mprage`` instead of ``t1_mprage``)::

    t1_mprage/s001.nii  t1_mprage/s002.nii  t2_tse/s003.nii  flair/s004.nii
    dwi/s005.nii.gz  dwi/s005.bval  dwi/s005.bvec  MPR_t1/s006.nii
    META/radiomics.json  seg/mask.nii.gz

Tags: study tag ``control`` on every 10th study, subject tag ``vip`` on every 50th subject,
file tag ``good`` on the t1 files of every 3rd study. Patient names start with A..Z in turn.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from nora_server.archive.admin import ensure_user
from nora_server.archive.db import make_engine, upgrade
from nora_server.archive.models import File, Project, Study, StudyTag, Subject, SubjectTag, utcnow
from nora_server.archive.names import file_kind

SERIES = ["t1_mprage/s001.nii", "t1_mprage/s002.nii", "t2_tse/s003.nii", "flair/s004.nii",
          "dwi/s005.nii.gz", "dwi/s005.bval", "dwi/s005.bvec", "MPR_t1/s006.nii",
          "META/radiomics.json", "seg/mask.nii.gz"]
MARIADB = os.environ.get("NORA_BENCH_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
CHUNK = 50_000


def study_files(i: int, n: int) -> list[str]:
    names = (SERIES * (n // len(SERIES) + 1))[:n]
    names = [p if k < len(SERIES) else p.replace("/", f"_{k // len(SERIES)}/")
             for k, p in enumerate(names)]
    if i % 5 == 0:
        names = [p.replace("t1_mprage", "t1_trio_mprage") for p in names]
    return names


def subject_name(i: int) -> str:
    return f"P{i:06d}"


def new_database(backend: str, workdir: Path, server_url: str | None = None):
    """(url, drop) for an empty database on ``backend`` (sqlite | mariadb; the MariaDB server
    at ``server_url``, default ``$NORA_BENCH_MARIADB`` or the machine's shared server)."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.sqlite"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    name = f"nora_bench_{uuid.uuid4().hex[:10]}"
    server_url = server_url or MARIADB
    server = create_engine(server_url)
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))

    def drop():
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        server.dispose()

    return f"{server_url}/{name}", drop


def prepared_engine(url: str):
    eng = make_engine(url)
    upgrade(eng)
    ensure_user(eng, "bench", is_admin=True)
    return eng


def make_database(engine, studies: int, files_per_study: int = 10, *, project: str = "bench",
                  root: str | None = None) -> dict:
    """Fill ``project`` by bulk inserts; return timings and counts."""
    t0 = time.perf_counter()
    now, day0 = utcnow(), date(2015, 1, 1)
    n_subj = (studies + 1) // 2
    with engine.begin() as conn:
        pid = conn.execute(insert(Project).values(name=project, description="", path=root,
                                                  created=now)).inserted_primary_key[0]
        for k in range(0, n_subj, CHUNK):
            conn.execute(insert(Subject), [
                {"project_id": pid, "pseudonym": subject_name(i), "patient_id": f"PIZ{i:07d}",
                 "patient_name": f"{chr(65 + i % 26)}name{i}^Given",
                 "birth_date": day0 - timedelta(days=7000 + i % 20000), "sex": "MF"[i % 2],
                 "created": now} for i in range(k, min(k + CHUNK, n_subj))])
        subj_ids = dict(conn.execute(text(
            f"SELECT pseudonym, id FROM subjects WHERE project_id = {pid}")).all())
        for k in range(0, studies, CHUNK):
            conn.execute(insert(Study), [
                {"subject_id": subj_ids[subject_name(i // 2)], "key": f"S{i % 2 + 1}",
                 "study_date": day0 + timedelta(days=i % 3000), "modality": "MR",
                 "description": ("MRI head" if i % 3 else "MRI follow-up"), "created": now}
                for i in range(k, min(k + CHUNK, studies))])
        rows = conn.execute(text(
            "SELECT s.pseudonym, st.key, st.id FROM studies st JOIN subjects s "
            f"ON st.subject_id = s.id WHERE s.project_id = {pid}")).all()
        study_ids = {(p, k): i for p, k, i in rows}
        t_meta = time.perf_counter()
        batch, n_files = [], 0
        for i in range(studies):
            st = study_ids[(subject_name(i // 2), f"S{i % 2 + 1}")]
            for p in study_files(i, files_per_study):
                batch.append({"project_id": pid, "study_id": st, "path": p,
                              "kind": file_kind(p), "size": 352,
                              "checksum": None, "added": now})
            if len(batch) >= CHUNK:
                conn.execute(insert(File), batch)
                n_files += len(batch)
                batch = []
        if batch:
            conn.execute(insert(File), batch)
            n_files += len(batch)
        t_files = time.perf_counter()
        ids = [study_ids[(subject_name(i // 2), f"S{i % 2 + 1}")] for i in range(0, studies, 10)]
        for k in range(0, len(ids), CHUNK):
            conn.execute(insert(StudyTag), [{"study_id": s, "tag": "control", "project_id": pid}
                                            for s in ids[k:k + CHUNK]])
        conn.execute(insert(SubjectTag), [{"subject_id": subj_ids[subject_name(i)], "tag": "vip",
                                           "project_id": pid} for i in range(0, n_subj, 50)])
        conn.execute(text(
            "INSERT INTO file_tags (file_id, tag, study_id, project_id) "
            "SELECT f.id, 'good', f.study_id, f.project_id FROM files f "
            "WHERE f.path LIKE 't1%' AND MOD(f.study_id, 3) = 0"))
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            for t in ("files", "studies", "subjects", "file_tags", "study_tags"):
                conn.exec_driver_sql(f"ANALYZE TABLE {t}")
    t_end = time.perf_counter()
    return {"files": n_files, "studies": studies, "subjects": n_subj,
            "file_insert_s": t_files - t_meta, "total_s": t_end - t0}


def make_tree(root: Path, studies: int, files_per_study: int = 10) -> int:
    """Empty files in the same layout under ``root`` (skipped if already complete)."""
    marker = root / f".complete-{studies}-{files_per_study}"
    if marker.exists():
        return studies * files_per_study
    n = 0
    for i in range(studies):
        base = f"{root}/{subject_name(i // 2)}/S{i % 2 + 1}"
        made = set()
        for p in study_files(i, files_per_study):
            folder = p.rpartition("/")[0]
            if folder not in made:
                os.makedirs(f"{base}/{folder}", exist_ok=True)
                made.add(folder)
            os.close(os.open(f"{base}/{p}", os.O_CREAT | os.O_WRONLY, 0o644))
            n += 1
    marker.touch()
    return n
