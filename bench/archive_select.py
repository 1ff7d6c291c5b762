"""``nora -s`` pattern selection and filter-bar queries on a large project, beside ``glob``.

A project of ``--studies`` studies (default 100k) with ``--files-per-study`` files each
(default 10: 1M files) is generated with bulk inserts on SQLite and on MariaDB; the same
layout is written to disk as empty files, and ``glob`` over that tree is the anchor, measured
in the same run. Goals (issue 5): pattern selection under 50 ms median, a filter-bar query
under 100 ms.

Usage: python bench/archive_select.py [--studies N] [--backends sqlite,mariadb] [--repeat R]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import shutil
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_gen import (make_database, make_tree, new_database, prepared_engine,  # noqa: E402
                         subject_name)

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
PAGE = 500  # a table shows the first page and the number of rows


def median_ms(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def glob_anchors(tree: Path, refs: list[str], repeat: int) -> dict:
    """The same selections done by walking the tree with glob (``_`` is ``?`` in glob)."""
    res = {}
    it = iter(refs * repeat)

    def one_study():
        pid, sid = next(it).split("#")
        return glob.glob(f"{tree}/{pid}/{sid}/t1*/s0??.nii")

    res["study"] = median_ms(one_study, len(refs))
    res["project"] = median_ms(lambda: glob.glob(f"{tree}/*/*/t1_trio*/s001.nii"), 3)
    res["filesearch"] = median_ms(lambda: {p.rsplit("/", 3)[0] for p in glob.glob(
        f"{tree}/*/*/t1_trio*/s0*.nii")}, 3)
    return res


def bench_backend(backend: str, tree: Path, args, refs: list[str], workdir: Path) -> dict:
    url, drop = new_database(backend, workdir)
    engine = prepared_engine(url)
    try:
        gen = make_database(engine, args.studies, args.files_per_study, root=str(tree))
        s = Archive(engine, workdir / "storage").session("bench")
        res = {"gen": gen}
        it = iter(refs * args.repeat)
        res["study"] = median_ms(lambda: s.select_files("bench", "t1*/s0*.nii", ref=next(it)),
                                 len(refs))
        res["project"] = median_ms(lambda: s.select_files("bench", "t1_trio*/s001.nii"), 5)
        cfg = write_settings(Settings(database=url, storage=workdir / "storage"),
                             workdir / f"nora-{backend}.toml")
        os.environ.update(NORA_CONFIG=str(cfg), NORA_USER="bench")
        from nora_server.cli.nora import main

        it2 = iter(refs * args.repeat)

        def cli():
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(["-p", "bench", "-s", f"{next(it2)}/t1*/s0*.nii"]) == 0
            return buf.getvalue().splitlines()

        res["cli"] = median_ms(cli, min(len(refs), 30))
        res["filters"] = []
        for label, bars in FILTERS:
            page = median_ms(lambda: (s.studies("bench", bars, limit=PAGE),
                                      s.count_studies("bench", bars)), 7)
            full = median_ms(lambda: s.studies("bench", bars), 5)
            res["filters"].append((label, page[0], full[0], len(full[1])))
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
    g = glob_anchors(tree, refs, args.repeat)
    print(f"\n{args.studies} studies, {n_files} files; medians in ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(f"{'':48s}{'glob':>10s}" + "".join(f"{b:>10s}" for b in args.backends.split(",")))
    rows = {b: bench_backend(b, tree, args, refs, Path(tempfile.mkdtemp(dir=CACHE)))
            for b in args.backends.split(",")}

    def line(label, anchor, key):
        cells = "".join(f"{key(r):10.1f}" for r in rows.values())
        print(f"{label:48s}{anchor:>10s}{cells}")

    line("select one study  P#S/t1*/s0*.nii  (API)", f"{g['study'][0]:.2f}",
         lambda r: r["study"][0])
    line("nora -s  P#S/t1*/s0*.nii  (main(), in process)", "", lambda r: r["cli"][0])
    line(f"select project t1_trio*/s001.nii ({len(g['project'][1])} files)",
         f"{g['project'][0]:.0f}", lambda r: r["project"][0])
    print(f"\nfilter bars: first {PAGE} rows + row count | all rows (rows); glob: the file "
          "search by walking the tree")
    for k, (label, _) in enumerate(FILTERS):
        anchor = f"{g['filesearch'][0]:.0f}" if label.startswith("files") else ""
        cells = "".join(f"{r['filters'][k][1]:8.1f} |{r['filters'][k][2]:7.1f}"
                        for r in rows.values())
        n = rows[next(iter(rows))]["filters"][k][3]
        print(f"{label[:40]:40s}{n:>7d}{anchor:>10s}  {cells}")
    print()
    for b, r in rows.items():
        gen = r["gen"]
        print(f"{b}: generated {gen['files']} file rows by bulk insert at "
              f"{gen['files'] / gen['file_insert_s']:,.0f} files/s ({gen['total_s']:.0f} s "
              "with subjects, studies, tags, ANALYZE)")
    for r in rows.values():  # the database and glob agree
        assert len(r["project"][1]) == len(g["project"][1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
