"""Changing slice in each workspace layout, beside napari's own single view; memory of the
ortho layout beside the single view.

Part 1 (one process, all windows open, layouts taking turns change by change so that the
machine's load hits all alike): a 512x512xN int16 volume (RAS, 0.5x0.5x1 mm); for napari's
default viewer (``viewer.dims.set_point``) and for each napari-nora layout (``state.set_axes``,
what the mouse wheel does), the wall time from the change of the axial slice until the event
loop has run dry of redraws (every canvas the change touched has drawn; the draws are
counted), median and 90th percentile over ``--repeat`` slice changes.

Part 2 (a fresh process per case): resident memory (RSS) once the volume is shown and a few
slices were changed: napari's single view, napari-nora's single view and the ortho layout.

Run under a display: ``xvfb-run -a python bench/workspace_slice.py``. Without a GPU, Mesa's
llvmpipe renders in software, so absolute times are pessimistic; compare ratios. When the
``napari-orthogonal-views`` plugin is installed (it is not a dependency), its three-view layout
is timed too, as a second anchor.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

CHILD = r"""
import json, os, sys, time, tempfile, gc
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp())
import numpy as np
import napari
from qtpy.QtWidgets import QApplication
from napari_nora.readers.layers import volume_layer

mode, layouts, n_slices, repeat = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
app = QApplication.instance() or QApplication([])


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def volume():
    rng = np.random.default_rng(0)
    vol = rng.normal(40, 12, (512, 512, n_slices)).astype(np.int16)  # (i=R, j=A, k=S)
    aff = np.diag([0.5, 0.5, 1.0, 1.0]); aff[:3, 3] = (-128, -128, -n_slices / 2)
    return vol, aff


def canvases_of(viewer, ctl):
    if ctl == "onv":  # napari-orthogonal-views: main canvas + its two side views
        from napari_orthogonal_views.ortho_view_manager import _get_manager
        m = _get_manager(viewer)
        return [viewer.window._qt_viewer.canvas, m.right_widget.qt_viewer.canvas,
                m.bottom_widget.qt_viewer.canvas]
    if ctl is None:
        return [viewer.window._qt_viewer.canvas]
    return [v.qt_viewer.canvas for v in ctl.views]


DRAWS = [0]


def count_draws(viewer, ctl):
    for c in canvases_of(viewer, ctl):
        c._scene_canvas.events.draw.connect(lambda e: DRAWS.__setitem__(0, DRAWS[0] + 1))


def redraw(viewer, ctl):
    # run the event loop until the canvases the change touched have drawn: passes continue
    # while a pass still draws (Qt delivers canvas updates as posted events)
    start = DRAWS[0]
    app.processEvents()
    for _ in range(50):
        before = DRAWS[0]
        app.processEvents()
        if DRAWS[0] == before and DRAWS[0] > start:
            break
    return DRAWS[0] - start


def build(layout, vol, aff):
    data, kwargs, _ = volume_layer(vol, aff, name="ct")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.add_image(data, **kwargs)
    ctl = None
    if layout == "onv":
        from napari_orthogonal_views.ortho_view_manager import show_orthogonal_views
        show_orthogonal_views(viewer)
        ctl = "onv"
    elif layout != "napari":
        from napari_nora.widgets.workspace_views import workspace_for
        ctl = workspace_for(viewer)
        ctl.state.layout = layout
    for _ in range(5):
        app.processEvents(); time.sleep(0.02)
    if ctl not in (None, "onv"):
        ctl.reset_views()
    count_draws(viewer, ctl)
    return viewer, ctl


def change_slice(viewer, ctl, s):
    t0 = time.perf_counter()
    if ctl in (None, "onv"):
        viewer.dims.set_point(0, s)
    else:
        ctl.state.set_axes([0], [s])
    n = redraw(viewer, ctl)
    return time.perf_counter() - t0, n


vol, aff = volume()
rng_slices = [((k * 7) % n_slices) for k in range(repeat + 3)]
if mode == "time":
    # all windows open at once and the layouts take turns, slice change by slice change, so
    # that a change in the machine's load hits every layout alike
    built = {layout: build(layout, vol, aff) for layout in layouts}
    times = {layout: [] for layout in layouts}
    draws = {layout: [] for layout in layouts}
    for k, idx in enumerate(rng_slices):
        for layout, (viewer, ctl) in built.items():
            rng = viewer.dims.range[0]
            t, n = change_slice(viewer, ctl, rng.start + idx * rng.step)
            if k >= 3:  # warm-up
                times[layout].append(t)
                draws[layout].append(n)
    out = {}
    for layout, (viewer, ctl) in built.items():
        out[layout] = {"median_ms": 1e3 * float(np.median(times[layout])),
                       "p90_ms": 1e3 * float(np.percentile(times[layout], 90)),
                       "views": len(canvases_of(viewer, ctl)),
                       "draws": float(np.mean(draws[layout]))}
    print(json.dumps(out))
else:  # memory of one layout in this fresh process
    gc.collect()
    base = rss_mb()
    viewer, ctl = build(layouts[0], vol, aff)
    for idx in rng_slices[:4]:
        change_slice(viewer, ctl, viewer.dims.range[0].start + idx * viewer.dims.range[0].step)
    gc.collect()
    print(json.dumps({"rss_mb": rss_mb(), "base_mb": base, "data_mb": vol.nbytes / 2**20}))
sys.stdout.flush()
os._exit(0)  # skip teardown: napari-orthogonal-views 0.5 can crash at interpreter exit
"""

LAYOUTS = ("napari", "single", "ortho", "ortho3d", "2x2", "mosaic", "lightbox")
NAMES = {"napari": "napari default (1 view)", "onv": "napari-orthogonal-views (3 views)",
         "single": "napari-nora single",
         "ortho": "ortho (axial+coronal+sagittal)", "ortho3d": "ortho + 3D", "2x2": "2x2 (with 3D)",
         "mosaic": "ortho + mosaic (6 tiles)", "lightbox": "lightbox (axial + 6 tiles)"}


def child(*args) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark process failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=120, help="slices of the 512x512 volume")
    ap.add_argument("--repeat", type=int, default=30, help="slice changes timed per layout")
    ap.add_argument("--memory-slices", type=int, default=200)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    args = ap.parse_args(argv)
    layouts = args.layouts.split(",")
    if importlib.util.find_spec("napari_orthogonal_views") is not None and "onv" not in layouts:
        layouts.insert(1, "onv")  # second anchor, when that plugin is installed

    res = child("time", ",".join(layouts), args.slices, args.repeat)
    base = res["napari"]["median_ms"] if "napari" in res else None
    print(f"Change of slice (S), 512x512x{args.slices} int16, {args.repeat} changes, until every "
          "canvas the change touched has drawn")
    print(f"{'layout':34s} {'views':>5s} {'draws':>5s} {'median ms':>10s} {'p90 ms':>8s} "
          f"{'vs napari':>9s}")
    for name, r in res.items():
        ratio = f"{r['median_ms'] / base:.2f}x" if base else "-"
        print(f"{NAMES.get(name, name):34s} {r['views']:5d} {r['draws']:5.1f} "
              f"{r['median_ms']:10.1f} {r['p90_ms']:8.1f} {ratio:>9s}")

    mem = {name: child("memory", name, args.memory_slices, 3)
           for name in ("napari", "single", "ortho")}
    ref = mem["napari"]["rss_mb"]
    print(f"\nMemory (RSS) with a 512x512x{args.memory_slices} int16 volume "
          f"({mem['napari']['data_mb']:.0f} MiB), fresh process each")
    for name, m in mem.items():
        print(f"{NAMES[name]:34s} {m['rss_mb']:6.0f} MiB = {m['rss_mb'] / ref:.2f}x "
              f"(+{m['rss_mb'] - ref:.0f} MiB)")
    print(f"ortho / napari-nora single: {mem['ortho']['rss_mb'] / mem['single']['rss_mb']:.2f}x "
          "(goal < 1.2x; a copy of the volume would add "
          f"{mem['napari']['data_mb']:.0f} MiB per view)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
