"""Archive fixtures: every archive test runs on SQLite and on the MariaDB server.

MariaDB is reached at ``$NORA_TEST_MARIADB`` (default ``mysql+pymysql://root@127.0.0.1:3306``);
each test session creates its own database with a unique name and drops it at the end. A
missing MariaDB makes the tests fail (start it with
``start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text

from nora_server.archive import Archive
from nora_server.archive.admin import ensure_user
from nora_server.archive.db import make_engine, upgrade
from nora_server.archive.models import Base

MARIADB = os.environ.get("NORA_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
BACKENDS = ["sqlite", "mariadb"]


def _mariadb_database():
    """Create a fresh database; return (url, drop function). Fails the test if unreachable."""
    name = f"nora_test_{uuid.uuid4().hex[:12]}"
    server = create_engine(MARIADB)
    try:
        with server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 "
                              "COLLATE utf8mb4_general_ci"))
    except Exception as exc:  # noqa: BLE001 - any driver error means the same here
        pytest.fail(f"MariaDB is not reachable at {MARIADB} ({exc}); start it with "
                    "'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd'")

    def drop():
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        server.dispose()

    return f"{MARIADB}/{name}", drop


def database_url(backend: str, tmp: Path):
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'nora.sqlite'}", lambda: None
    return _mariadb_database()


def new_archive(url: str, root: Path, *, project: str = "demo", description: str = ""):
    """A new archive on ``url`` (upgraded) with its storage ``root/storage``, a site admin
    ``admin`` and an empty ``project``; return (archive, admin's session)."""
    engine = make_engine(url)
    upgrade(engine)
    ensure_user(engine, "admin", is_admin=True)
    archive = Archive(engine, root / "storage")
    archive.storage.mkdir()
    admin = archive.session("admin")
    admin.create_project(project, description=description)
    return archive, admin


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def engine(backend, tmp_path_factory):
    url, drop = database_url(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    drop()


def _clear(engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def archive(engine, tmp_path):
    """An empty archive (tables emptied after the test) with its own storage folder and a
    site admin called ``admin``."""
    arch = Archive(engine, tmp_path / "storage")
    arch.storage.mkdir()
    ensure_user(engine, "admin", is_admin=True)
    yield arch
    _clear(engine)


@pytest.fixture
def admin(archive):
    return archive.session("admin")


def write_bytes(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def write():
    """``write(path, data=b"x") -> path``: create a file and its folders."""
    return write_bytes


# The demo project: known subjects, studies, files and tags used by many tests.
DEMO_FILES = {
    "P001#S1": ["t1_trio_mprage/s001.nii", "t1_trio_mprage/s002.nii", "dwi/s003.nii.gz",
                "META/radiomics1.json"],
    "P001#S2": ["MPR_t1/s001.nii", "flair/s004.nii"],
    "P002#S1": ["t1_trio_fast/s010.nii", "ct/ct.nii.gz"],
    "P003#S1": ["MPR_t1_hr/s005.nii", "t2/s006.nii", "META/radiomics2.json"],
}
DEMO_SUBJECTS = {
    "P001": {"patient_id": "PIZ100", "patient_name": "Alice^Smith", "birth_date": "1970-01-02",
             "sex": "F"},
    "P002": {"patient_id": "PIZ200", "patient_name": "Bob^Jones", "birth_date": "1980-05-06",
             "sex": "M"},
    "P003": {"patient_id": "XYZ300", "patient_name": "Carl^Brown", "birth_date": "1990-07-08",
             "sex": "M"},
}
DEMO_STUDIES = {
    "P001#S1": {"study_date": "2020-01-10", "description": "MRI head", "modality": "MR"},
    "P001#S2": {"study_date": "2021-03-04", "description": "MRI follow-up", "modality": "MR"},
    "P002#S1": {"study_date": "2020-06-01", "description": "CT head", "modality": "CT"},
    "P003#S1": {"study_date": "2022-09-09", "description": "MRI head", "modality": "MR"},
}
USERS = {"owner": "owner", "member": "member", "reader": "reader"}


@pytest.fixture
def demo(archive, admin, tmp_path):
    """Project ``demo`` with users ``owner``, ``member``, ``reader`` (their role) and
    ``outsider`` (no role); study tags, subject tags and file tags as below."""
    from nora_server.archive import AddItem

    admin.create_project("demo", description="demo project")
    for user, role in USERS.items():
        admin.create_user(user)
        admin.grant(user, "demo", role)
    admin.create_user("outsider")
    src = tmp_path / "src"
    items = []
    for ref, paths in DEMO_FILES.items():
        for p in paths:
            data = (b'{"mask": {"volume": %d, "diameter": 3}, "id": "%s"}'
                    % (len(p), ref.encode()) if p.endswith(".json") else p.encode())
            items.append(AddItem(write_bytes(src / ref.replace("#", "_") / p, data), ref, p))
    admin.add_files("demo", items, subject_info=DEMO_SUBJECTS, study_info=DEMO_STUDIES)
    admin.tag("demo", "P001#S1", "control")
    admin.tag("demo", "P003#S1", "control,young")
    admin.tag("demo", "P002#S1", "patient")
    admin.tag("demo", "P002", "vip")
    admin.tag_files(admin.select_files("demo", "t1_trio*/s00*.nii"), "good")
    return archive


@pytest.fixture
def fresh_url(backend, tmp_path):
    """URL of a new, empty database on the current back end (dropped afterwards)."""
    url, drop = database_url(backend, tmp_path)
    yield url
    drop()


@pytest.fixture
def cli(archive, tmp_path, monkeypatch, capsys):
    """``cli(prog_main, *args, user="admin") -> (exit code, stdout, stderr)`` with a nora.toml
    pointing at the test archive."""
    from nora_server.config import Settings, write_settings

    url = archive.engine.url.render_as_string(hide_password=False)
    path = write_settings(Settings(database=url, storage=archive.storage),
                          tmp_path / "nora.toml")
    monkeypatch.setenv("NORA_CONFIG", str(path))

    def call(main, *args, user="admin"):
        monkeypatch.setenv("NORA_USER", user)
        capsys.readouterr()
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err

    return call
