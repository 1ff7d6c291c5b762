"""Bulk indexing ("create project from existing data") beside walking the tree with ``glob``.

The tree of ``--studies`` studies x ``--files-per-study`` empty files (default 100k x 10 = 1M,
the layout of ``archive_gen.py``) is indexed in place into a fresh database on SQLite and on
MariaDB: walk (``os.scandir``), stat for the size, and Core ``executemany`` inserts, all in one
transaction. The anchor is ``glob.glob(root + "/**", recursive=True)`` over the same tree in
the same run, which only lists paths. Goal (issue 5): at least 20k files/s.

Usage: python bench/archive_index.py [--studies N] [--backends sqlite,mariadb]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_gen import make_tree, new_database, prepared_engine  # noqa: E402

from nora_server.archive import Archive  # noqa: E402

CACHE = Path(os.environ.get("NORA_BENCH_CACHE", Path(tempfile.gettempdir()) / "nora-bench"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=100_000)
    ap.add_argument("--files-per-study", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,mariadb")
    args = ap.parse_args(argv)
    tree = CACHE / f"tree-{args.studies}x{args.files_per_study}" / "bench"
    t0 = time.perf_counter()
    n = make_tree(tree, args.studies, args.files_per_study)
    print(f"tree: {n} files under {tree} ({time.perf_counter() - t0:.0f} s, cached)")
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores, shared machine)")
    # warm the directory cache the same way for every contender
    t0 = time.perf_counter()
    paths = glob.glob(f"{tree}/**", recursive=True)
    t_glob = time.perf_counter() - t0
    files = sum(1 for p in paths if "." in p.rpartition("/")[2])
    print(f"\n{'':36s}{'seconds':>10s}{'files/s':>12s}")
    print(f"{'glob ** (list paths only), anchor':36s}{t_glob:10.1f}{files / t_glob:12,.0f}")
    for backend in args.backends.split(","):
        work = Path(tempfile.mkdtemp(dir=CACHE))
        url, drop = new_database(backend, work)
        engine = prepared_engine(url)
        try:
            s = Archive(engine, work / "storage").session("bench")
            t0 = time.perf_counter()
            rep = s.create_project_from_folder("bench", tree)
            dt = time.perf_counter() - t0
            assert rep.files == n, (rep.files, n)
            print(f"{'index in place, ' + backend:36s}{dt:10.1f}{rep.files / dt:12,.0f}")
        finally:
            engine.dispose()
            drop()
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
