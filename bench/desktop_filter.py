"""Typing in a filter bar of the desktop's subject/study table until the table shows the answer,
on a project of 100k studies, beside the bare archive query in the same run.

A project of ``--studies`` studies (two per subject, ``--files-per-study`` files each) is
generated with bulk inserts (``bench/archive_gen.py``); the Browser tab loads it once. Each
filter is then typed one key at a time into its bar, as a user does; for every key the time
from the key to the table showing the new rows is measured (a thread worker answers the
filter on the loaded table and the project's file-path index, the GUI thread only swaps the
view's row index). Anchors, measured on the same data:
``session.studies(project, bars)`` (the archive's client call that returns the rows) and the
same filter as one SQL query returning only study ids. Goal (issue 8): under 100 ms.

Usage: xvfb-run -a python bench/desktop_filter.py [--studies N] [--backend sqlite|mariadb]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_gen import make_database, new_database, prepared_engine  # noqa: E402

TYPED = [  # (bar, text typed one key at a time)
    ("name", "Ana"),
    ("desc", "MRI f"),
    ("date", "2016-03"),
    ("subject", "P0123"),
    ("tags", "control"),
    ("files", "t1_trio*/s0*.nii"),
]


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=100_000)
    ap.add_argument("--files-per-study", type=int, default=10)
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "mariadb"])
    a = ap.parse_args(argv)

    from qtpy.QtWidgets import QApplication

    from napari_nora.widgets.desktop_browser import BrowserWidget
    from napari_nora.widgets.desktop_context import DesktopContext
    from nora_server.archive import Archive
    from nora_server.desktop.table import BARS, matching_study_ids

    app = QApplication.instance() or QApplication([])
    url, drop = new_database(a.backend, Path(tempfile.mkdtemp(prefix="nora-bench-")))
    try:
        engine = prepared_engine(url)
        t0 = time.perf_counter()
        make_database(engine, a.studies, a.files_per_study)
        print(f"{a.backend}: {a.studies:,} studies, {a.studies * a.files_per_study:,} files "
              f"generated in {ms(t0) / 1000:.1f} s")
        session = Archive(engine, tempfile.mkdtemp()).session("bench")
        ctx = DesktopContext(session)
        browser = BrowserWidget(ctx)
        browser.resize(1000, 700)
        browser.show()
        t0 = time.perf_counter()
        ctx.project = "bench"
        while browser.model.rowCount() < a.studies:
            app.processEvents()
        t_table = ms(t0)
        browser.tasks.wait(600_000)
        app.processEvents()
        print(f"table loaded once (background): {browser.model.rowCount():,} rows on screen "
              f"after {t_table:.0f} ms, file index of {len(browser.matcher.files):,} files "
              f"after {ms(t0):.0f} ms\n")
        updated = []
        browser.model.view_changed.connect(lambda: updated.append(time.perf_counter()))
        print(f"{'bar: typed':34} {'rows':>8} {'per key (median / max)':>24} "
              f"{'studies()':>10} {'ids SQL':>8}")
        all_keys = []
        for key, text in TYPED:
            edit = browser.file_search if key == "files" else browser.header.editors[key]
            times = []
            for n in range(1, len(text) + 1):
                updated.clear()
                t0 = time.perf_counter()
                edit.setText(text[:n])
                while not updated or browser.tasks.busy:
                    app.processEvents()
                app.processEvents()  # the view repaints
                times.append((updated[-1] - t0) * 1000)
            all_keys += times
            rows = browser.model.rowCount()
            bars = {BARS.get(key) or key: text} if key not in ("tags",) else {"tags": text}
            archive_bars = {"study": f"STAG:{text}"} if key == "tags" else bars
            t0 = time.perf_counter()
            n_rows = len(session.studies("bench", archive_bars))
            t_rows = ms(t0)
            t0 = time.perf_counter()
            matching_study_ids(session, "bench", bars)
            t_ids = ms(t0)
            assert n_rows == rows, (key, n_rows, rows)
            print(f"{key + ': ' + text:34} {rows:>8,} {statistics.median(times):>11.0f} / "
                  f"{max(times):>4.0f} ms {t_rows:>7.0f} ms {t_ids:>5.0f} ms")
            edit.clear()
            browser.tasks.wait()
        print(f"\nevery key: median {statistics.median(all_keys):.0f} ms, "
              f"max {max(all_keys):.0f} ms (goal < 100 ms)")
        browser.close()
        engine.dispose()
    finally:
        drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
