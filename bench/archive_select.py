"""``nora -s`` pattern selection and filter-bar queries on a large project, beside ``glob``.

A project of ``--studies`` studies (default 100k) with ``--files-per-study`` files each
(default 10: 1M files) is generated with bulk inserts on SQLite and on MariaDB; the same
layout is written to disk as empty files, and ``glob`` over that tree is the anchor, measured
in the same run. Goals (issue 5): pattern selection under 50 ms median, a filter-bar query
under 100 ms (issue 8: the desktop table's page of rows and its row count after a keystroke).

Every figure is the median of several runs, as wall-clock time and as CPU time (this process,
plus the database server's threads for MariaDB): on a shared machine the wall clock measures
the queue for the cores as much as the work, the CPU time measures the work.

MariaDB: by default a private server with a 1 GiB InnoDB buffer pool, as a site runs it
(``bench/mariadb_instance.py``); ``--mariadb URL`` uses another one (e.g. the shared server).

Usage: python bench/archive_select.py [--studies N] [--backends sqlite,mariadb] [--repeat R]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_gen import (make_database, make_tree, new_database, prepared_engine,  # noqa: E402
                         subject_name)
from mariadb_instance import private_mariadb  # noqa: E402

from nora_server.archive import Archive  # noqa: E402
from nora_server.config import Settings, write_settings  # noqa: E402

CACHE = Path(os.environ.get("NORA_BENCH_CACHE", Path(tempfile.gettempdir()) / "nora-bench"))
FILTERS = [  # (label, bars)
    ("name: A B", {"name": "A B"}),
    ("files: t1_trio*/s0*.nii & STAG:control", {"files": "t1_trio*/s0*.nii & STAG:control"}),
    ("id: P01234", {"id": "P01234"}),
    ("date: 2016-03, desc: MRI f", {"date": "2016-03", "desc": "MRI f"}),
    ("id: PTAG:vip FTAG:good", {"id": "PTAG:vip FTAG:good"}),
]
PAGE = 500  # a table view asks for a page of rows and the number of rows


class Timer:
    """Median wall and CPU milliseconds of repeated calls; ``server_cpu_ns`` adds the CPU time
    of a database server process."""

    def __init__(self, server_cpu_ns=None):
        self.server_cpu_ns = server_cpu_ns or (lambda: 0)

    def __call__(self, fn, repeat: int):
        out, walls, cpus = None, [], []
        for _ in range(repeat):
            s0, c0, t0 = self.server_cpu_ns(), time.process_time(), time.perf_counter()
            out = fn()
            walls.append((time.perf_counter() - t0) * 1000)
            cpus.append((time.process_time() - c0) * 1000 + (self.server_cpu_ns() - s0) / 1e6)
        return statistics.median(walls), statistics.median(cpus), out


def child_cpu_ms() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000


def fresh_process(cmd: list[str], env: dict, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = child_cpu_ms(), time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append(child_cpu_ms() - c0)
    return statistics.median(walls), statistics.median(cpus)


def glob_anchors(tree: Path, refs: list[str], timer: Timer, repeat: int) -> dict:
    """The same selections done by walking the tree with glob (``_`` is ``?`` in glob)."""
    res = {}
    it = iter(refs * repeat)

    def one_study():
        pid, sid = next(it).split("#")
        return glob.glob(f"{tree}/{pid}/{sid}/t1*/s0??.nii")

    res["study"] = timer(one_study, len(refs) * repeat)
    res["project"] = timer(lambda: glob.glob(f"{tree}/*/*/t1_trio*/s001.nii"), 3)
    res["filesearch"] = timer(lambda: {p.rsplit("/", 3)[0] for p in glob.glob(
        f"{tree}/*/*/t1_trio*/s0*.nii")}, 3)
    return res


def bench_backend(backend: str, server, tree: Path, args, refs: list[str],
                  workdir: Path) -> dict:
    url, drop = new_database(backend, workdir, server.url if server else None)
    engine = prepared_engine(url)
    timer = Timer(server.cpu_ns if server else None)
    try:
        gen = make_database(engine, args.studies, args.files_per_study, root=str(tree))
        s = Archive(engine, workdir / "storage").session("bench")
        res = {"gen": gen}
        it = iter(refs * args.repeat)
        res["study"] = timer(lambda: s.select_files("bench", "t1*/s0*.nii", ref=next(it)),
                             len(refs) * args.repeat)
        res["project"] = timer(lambda: s.select_files("bench", "t1_trio*/s001.nii"), 5)
        cfg = write_settings(Settings(database=url, storage=workdir / "storage"),
                             workdir / f"nora-{backend}.toml")
        env = dict(os.environ, NORA_CONFIG=str(cfg), NORA_USER="bench")
        os.environ.update(NORA_CONFIG=str(cfg), NORA_USER="bench")
        from nora_server.cli.nora import main

        it2 = iter(refs * args.repeat)

        def cli():
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(["-p", "bench", "-s", f"{next(it2)}/t1*/s0*.nii"]) == 0
            return buf.getvalue().splitlines()

        res["cli"] = timer(cli, min(len(refs), 30))
        res["process"] = fresh_process(
            [sys.executable, "-m", "nora_server.cli.nora", "-p", "bench", "-s",
             f"{refs[0]}/t1*/s0*.nii"], env, 5)
        res["filters"] = []
        for label, bars in FILTERS:
            page = timer(lambda: s.table("bench", bars, limit=PAGE), 7)
            full = timer(lambda: s.table("bench", bars, with_tags=False), 3)
            res["filters"].append((label, page, full, page[2].total))
        # what a desktop table does besides filtering
        some = [f"{subject_name(i // 2)}#S{i % 2 + 1}" for i in range(0, 1000, 2)]
        it3 = iter(refs)
        res["desk"] = [
            ("table page, no filter, sorted by date", timer(
                lambda: s.table("bench", order="date", descending=True, limit=PAGE), 7)),
            ("files of one study (file tree)", timer(
                lambda: s.study_files("bench", next(it3)), 50)),
            (f"tags of {len(some)} rows", timer(lambda: s.row_tags("bench", some), 7)),
            ("all 100k rows, no filter", timer(lambda: s.table("bench", with_tags=False), 3)),
        ]
        return res
    finally:
        engine.dispose()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=100_000)
    ap.add_argument("--files-per-study", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,mariadb")
    ap.add_argument("--mariadb", default="private",
                    help="'private' (own server, 1 GiB buffer pool) or a server URL")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the 200 sampled studies")
    args = ap.parse_args(argv)
    n_files = args.studies * args.files_per_study
    tree = CACHE / f"tree-{args.studies}x{args.files_per_study}" / "bench"
    t0 = time.perf_counter()
    make_tree(tree, args.studies, args.files_per_study)
    print(f"tree: {n_files} files under {tree} ({time.perf_counter() - t0:.0f} s, cached)")
    rnd = random.Random(0)
    refs = [f"{subject_name(i // 2)}#S{i % 2 + 1}"
            for i in (rnd.randrange(args.studies) for _ in range(200))]
    g = glob_anchors(tree, refs, Timer(), args.repeat)
    backends = args.backends.split(",")
    rows = {}
    with contextlib.ExitStack() as stack:
        for b in backends:
            server = None
            if b == "mariadb" and args.mariadb == "private":
                server = stack.enter_context(private_mariadb(CACHE))
            elif b == "mariadb":
                server = type("S", (), {"url": args.mariadb, "cpu_ns": None})()
            rows[b] = bench_backend(b, server, tree, args, refs, Path(tempfile.mkdtemp(dir=CACHE)))
    t_import = fresh_process([sys.executable, "-c", "import sqlalchemy.orm"], dict(os.environ), 5)
    print(f"\n{args.studies} studies, {n_files} files; medians, wall ms / CPU ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; MariaDB: {args.mariadb}\n")

    def cell(m):
        return f"{m[0]:8.1f} /{m[1]:7.1f}"

    print(f"{'':46s}{'glob':>17s}" + "".join(f"{b:>17s}" for b in backends))
    print(f"{'select one study P#S/t1*/s0*.nii (API)':46s}{cell(g['study'])}"
          + "".join(cell(r["study"]) for r in rows.values()))
    print(f"{'nora -s P#S/t1*/s0*.nii (main(), in process)':46s}{'':17s}"
          + "".join(cell(r["cli"]) for r in rows.values()))
    print(f"{'nora -s ... as a new process':46s}{'':17s}"
          + "".join(cell(r["process"]) for r in rows.values()))
    label = "  (a new python -c 'import sqlalchemy.orm')"
    print(f"{label:46s}{cell(t_import)}")
    n_proj = len(g["project"][2])
    print(f"{f'select project t1_trio*/s001.nii ({n_proj} files)':46s}{cell(g['project'])}"
          + "".join(cell(r["project"]) for r in rows.values()))
    print(f"\nfilter bars: table(bars, limit={PAGE}) = first {PAGE} rows + row count; the "
          "file search's anchor: glob over the tree")
    for k, (label, _) in enumerate(FILTERS):
        anchor = cell(g["filesearch"]) if label.startswith("files") else ""
        total = rows[backends[0]]["filters"][k][3]
        print(f"{label[:38]:38s}{total:>8d}{anchor:>17s}"
              + "".join(cell(r["filters"][k][1]) for r in rows.values()))
    print("\nthe same bars, every matching row (no page)")
    for k, (label, _) in enumerate(FILTERS):
        print(f"{label[:46]:46s}{'':17s}" + "".join(cell(r["filters"][k][2])
                                                   for r in rows.values()))
    print("\ndesktop calls")
    for k, (label, _) in enumerate(rows[backends[0]]["desk"]):
        print(f"{label[:46]:46s}{'':17s}" + "".join(cell(r["desk"][k][1])
                                                   for r in rows.values()))
    print()
    for b, r in rows.items():
        gen = r["gen"]
        print(f"{b}: generated {gen['files']} file rows by bulk insert at "
              f"{gen['files'] / gen['file_insert_s']:,.0f} files/s ({gen['total_s']:.0f} s "
              "with subjects, studies, tags, ANALYZE)")
    for r in rows.values():  # the database and glob agree
        assert len(r["project"][2]) == n_proj
    return 0


if __name__ == "__main__":
    sys.exit(main())
