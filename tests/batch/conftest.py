"""Batch fixtures: a REAL single-node Slurm (slurmdbd accounting on the running MariaDB) started
for the test session by ``scripts/services/slurm.sh``, a job table on SQLite, and a small
synthetic storage tree with known files.

A missing Slurm or MariaDB makes the tests fail, never skip: install Slurm with
``bash scripts/services/slurm.sh install`` (the test command does) and start MariaDB with
``start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from nora_server.archive.db import make_engine, upgrade
from nora_server.batch.resolve import DirectoryFiles
from nora_server.batch.scheduler import LocalScheduler, SlurmScheduler
from nora_server.batch.service import BatchRunner

REPO = Path(__file__).resolve().parents[2]
SLURM_SH = REPO / "scripts" / "services" / "slurm.sh"
MYSQL = dict(host=os.environ.get("NORA_MYSQL_HOST", "127.0.0.1"),
             port=int(os.environ.get("NORA_MYSQL_PORT", "3306")), user="root")


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """Start munged, slurmdbd, slurmctld and slurmd for this session; yield the slurm.conf."""
    missing = [c for c in ("sbatch", "sacct", "slurmctld", "slurmd", "slurmdbd", "munged")
               if shutil.which(c) is None]
    if missing:
        pytest.fail(f"Slurm is not installed ({', '.join(missing)} missing): run "
                    "'bash scripts/services/slurm.sh install'")
    folder = tmp_path_factory.mktemp("slurm")
    db = f"nora_test_slurm_{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(["bash", str(SLURM_SH), "start", str(folder), db],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"could not start Slurm (is MariaDB running at 127.0.0.1:3306?):\n"
                    f"{proc.stdout}\n{proc.stderr}")
    conf = folder / "etc" / "slurm.conf"
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        yield conf
    finally:
        subprocess.run(["bash", str(SLURM_SH), "stop", str(folder)], timeout=60)
        subprocess.run(["mysql", "-h", MYSQL["host"], "-P", str(MYSQL["port"]), "-u",
                        MYSQL["user"], "-e", f"DROP DATABASE IF EXISTS `{db}`"], timeout=30)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    """The archive's schema (with the job tables) on SQLite."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'nora.sqlite'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "storage"


def _runner(engine, scheduler, tmp_path, storage):
    return BatchRunner(engine, scheduler, folder=tmp_path / "jobs",
                       files=DirectoryFiles(str(storage)), user="tester")


@pytest.fixture
def slurm_runner(slurm, engine, tmp_path, storage):
    return _runner(engine, SlurmScheduler(backoff_s=0.2), tmp_path, storage)


@pytest.fixture
def local_runner(engine, tmp_path, storage):
    return _runner(engine, LocalScheduler(), tmp_path, storage)


