"""Bulk indexing ("create project from existing data") beside walking the tree with ``glob``.

The tree of ``--studies`` studies x ``--files-per-study`` empty files (default 100k x 10 = 1M,
the layout of ``archive_gen.py``) is indexed in place into a fresh database on SQLite and on
MariaDB: walk (``os.scandir``), stat for the size, and bulk inserts, all in one transaction.
The anchor is ``glob.glob(root + "/**", recursive=True)`` over the same tree in the same run,
which only lists paths. Goal (issue 5): at least 20k files/s.

Figures are wall-clock and CPU time (this process, plus the server's threads for MariaDB); on
a shared machine the wall clock measures the queue for the cores as much as the work. MariaDB:
a private server with a 1 GiB buffer pool by default (``bench/mariadb_instance.py``), or
``--mariadb URL``.

Usage: python bench/archive_index.py [--studies N] [--backends sqlite,mariadb]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_gen import make_tree, new_database, prepared_engine  # noqa: E402
from mariadb_instance import private_mariadb  # noqa: E402

from nora_server.archive import Archive  # noqa: E402

CACHE = Path(os.environ.get("NORA_BENCH_CACHE", Path(tempfile.gettempdir()) / "nora-bench"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=100_000)
    ap.add_argument("--files-per-study", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,mariadb")
    ap.add_argument("--mariadb", default="private",
                    help="'private' (own server, 1 GiB buffer pool) or a server URL")
    args = ap.parse_args(argv)
    tree = CACHE / f"tree-{args.studies}x{args.files_per_study}" / "bench"
    t0 = time.perf_counter()
    n = make_tree(tree, args.studies, args.files_per_study)
    print(f"tree: {n} files under {tree} ({time.perf_counter() - t0:.0f} s, cached)")
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores, shared)")
    # warm the directory cache the same way for every contender
    c0, t0 = time.process_time(), time.perf_counter()
    paths = glob.glob(f"{tree}/**", recursive=True)
    t_glob, c_glob = time.perf_counter() - t0, time.process_time() - c0
    files = sum(1 for p in paths if "." in p.rpartition("/")[2])
    print(f"\n{'':40s}{'wall s':>8s}{'files/s':>10s}{'CPU s':>8s}{'files/CPU s':>12s}")

    def line(label, wall, cpu, count):
        print(f"{label:40s}{wall:8.1f}{count / wall:10,.0f}{cpu:8.1f}{count / cpu:12,.0f}")

    line("glob ** (list paths only), anchor", t_glob, c_glob, files)
    for backend in args.backends.split(","):
        with contextlib.ExitStack() as stack:
            server = None
            if backend == "mariadb" and args.mariadb == "private":
                server = stack.enter_context(private_mariadb(CACHE))
            work = Path(tempfile.mkdtemp(dir=CACHE))
            url, drop = new_database(backend, work,
                                     server.url if server else (None if backend == "sqlite"
                                                                else args.mariadb))
            engine = prepared_engine(url)
            try:
                s = Archive(engine, work / "storage").session("bench")
                s0 = server.cpu_ns() if server else 0
                c0, t0 = time.process_time(), time.perf_counter()
                rep = s.create_project_from_folder("bench", tree)
                dt = time.perf_counter() - t0
                cpu = time.process_time() - c0 + ((server.cpu_ns() - s0) / 1e9 if server else 0)
                assert rep.files == n, (rep.files, n)
                line(f"index in place, {backend}", dt, cpu, rep.files)
            finally:
                engine.dispose()
                drop()
                shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
