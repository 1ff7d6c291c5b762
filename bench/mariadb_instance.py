"""A private MariaDB server for the archive benchmarks, configured as a site would run one.

The machine's shared MariaDB keeps the packaged defaults (a 128 MiB InnoDB buffer pool, shared
with every test database of every session). A site gives InnoDB a buffer pool that holds the
archive (docs/archive.md: the ``files`` table and its indexes take about 150 MB per million
files), so the benchmarks start their own server on a free loopback port with
``--buffer-pool`` (default 1G) and a data folder under the benchmark cache, and stop it after.

    with private_mariadb(Path("/tmp/nora-bench")) as server:
        server.url   # mysql+pymysql://root@127.0.0.1:PORT
        server.cpu_ns()  # CPU time the server has used so far (all its threads)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_ns(self) -> int:
        """CPU time used by every thread of the server, in ns (from /proc schedstat)."""
        return process_cpu_ns(self.pid)


def process_cpu_ns(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended meanwhile
    return total


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_mariadb(workdir: Path, buffer_pool: str = "1G"):
    """Start ``mariadbd`` (loopback only, no grant tables: a throw-away server); yield a
    :class:`Server` (its URL has no database name); stop it and remove its data at the end."""
    base = Path(workdir) / f"mariadb-{_free_port()}"
    data, port = base / "data", _free_port()
    data.mkdir(parents=True)
    proc = None
    try:
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}",
                        "--user=root", "--skip-test-db",
                        "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True, timeout=300)
        proc = _serve(base, data, port, buffer_pool)
        yield Server(f"mysql+pymysql://root@127.0.0.1:{port}", proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _serve(base: Path, data: Path, port: int, buffer_pool: str) -> subprocess.Popen:
    """Start mariadbd and wait until it listens."""
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={data}", "--user=root",
         "--bind-address=127.0.0.1", f"--port={port}", f"--socket={base / 'sock'}",
         f"--pid-file={base / 'pid'}", "--skip-grant-tables", "--skip-name-resolve",
         f"--innodb-buffer-pool-size={buffer_pool}", "--character-set-server=utf8mb4",
         "--collation-server=utf8mb4_general_ci", f"--log-error={base / 'error.log'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {(base / 'error.log').read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("mariadbd did not listen within 120 s")
        time.sleep(0.2)
