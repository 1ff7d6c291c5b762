"""The MariaDB half of the suite fails (never skips) when MariaDB cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_missing_mariadb_fails_the_run():
    env = dict(os.environ, NORA_TEST_MARIADB="mysql+pymysql://root@127.0.0.1:1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xvfb", "-p", "no:cacheprovider",
         "-W", "ignore", "tests/server/test_filters.py::test_subject_level"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    tail = out.stdout.strip().splitlines()[-1]
    assert "1 passed" in tail and "1 error" in tail and "skipped" not in tail, tail
    assert "MariaDB is not reachable" in out.stdout
