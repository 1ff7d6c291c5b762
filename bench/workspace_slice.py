"""Changing slice in each workspace layout, beside napari's own single view; memory of the
ortho layout beside the single view.

Part 1 (one process): a 512x512xN int16 volume (RAS, 0.5x0.5x1 mm); for napari's default
viewer (``viewer.dims.set_point``) and for each napari-nora layout (``state.set_axes``, what
the mouse wheel does), the wall time from the change until every canvas of the layout has
processed its events and redrawn (``QApplication.processEvents``; forced redraw of each
canvas), median and 90th percentile over ``--repeat`` slice changes.

Part 2 (a fresh process per case): resident memory (RSS) once the volume is shown and a few
slices were changed, napari's single view beside our ortho layout, and the volume's size.

Run under a display: ``xvfb-run -a python bench/workspace_slice.py``. Without a GPU, Mesa's
llvmpipe renders in software, so absolute times are pessimistic; compare ratios.
"""

from __future__ import annotations

import argparse
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


def redraw(viewer, ctl):
    app.processEvents()
    canvases = [viewer.window._qt_viewer.canvas] if ctl is None else [v.qt_viewer.canvas for v in ctl.views]
    for c in canvases:
        c._scene_canvas.native.repaint()  # synchronous paint of this canvas
    app.processEvents()


def run(layout, vol, aff):
    data, kwargs, _ = volume_layer(vol, aff, name="ct")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.add_image(data, **kwargs)
    ctl = None
    if layout != "napari":
        from napari_nora.widgets.workspace_views import workspace_for
        ctl = workspace_for(viewer)
        ctl.state.layout = layout
    for _ in range(5):
        app.processEvents(); time.sleep(0.02)
    if ctl is not None:
        ctl.reset_views()
    rng = viewer.dims.range[0]
    points = [rng.start + ((k * 7) % n_slices) * rng.step for k in range(repeat + 3)]
    times = []
    for k, s in enumerate(points):
        t0 = time.perf_counter()
        if ctl is None:
            viewer.dims.set_point(0, s)
        else:
            ctl.state.set_axes([0], [s])
        redraw(viewer, ctl)
        if k >= 3:  # warm-up
            times.append(time.perf_counter() - t0)
    return viewer, ctl, times


vol, aff = volume()
if mode == "time":
    out = {}
    for layout in layouts:
        viewer, ctl, times = run(layout, vol, aff)
        out[layout] = {"median_ms": 1e3 * float(np.median(times)),
                       "p90_ms": 1e3 * float(np.percentile(times, 90)),
                       "views": 1 if ctl is None else len(ctl.views)}
        if ctl is not None:
            ctl.state.layout = "single"
        viewer.close(); app.processEvents(); gc.collect()
    print(json.dumps(out))
else:  # memory of one layout in this fresh process
    gc.collect()
    base = rss_mb()
    viewer, ctl, _ = run(layouts[0], vol, aff)
    gc.collect()
    print(json.dumps({"rss_mb": rss_mb(), "base_mb": base, "data_mb": vol.nbytes / 2**20}))
"""

LAYOUTS = ("napari", "single", "ortho", "ortho3d", "2x2", "mosaic", "lightbox")
NAMES = {"napari": "napari default (1 view)", "single": "napari-nora single",
         "ortho": "ortho (axial+coronal+sagittal)", "ortho3d": "ortho + 3D", "2x2": "2x2 (with 3D)",
         "mosaic": "ortho + mosaic (6 tiles)", "lightbox": "lightbox (axial + 6 tiles)"}


def child(*args) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=120, help="slices of the 512x512 volume")
    ap.add_argument("--repeat", type=int, default=30, help="slice changes timed per layout")
    ap.add_argument("--memory-slices", type=int, default=200)
    ap.add_argument("--layouts", default=",".join(LAYOUTS))
    args = ap.parse_args(argv)

    res = child("time", args.layouts, args.slices, args.repeat)
    base = res["napari"]["median_ms"] if "napari" in res else None
    print(f"Change of slice, 512x512x{args.slices} int16, {args.repeat} changes, all views redrawn")
    print(f"{'layout':34s} {'views':>5s} {'median ms':>10s} {'p90 ms':>8s} {'vs napari':>9s}")
    for name, r in res.items():
        ratio = f"{r['median_ms'] / base:.2f}x" if base else "-"
        print(f"{NAMES.get(name, name):34s} {r['views']:5d} {r['median_ms']:10.1f} "
              f"{r['p90_ms']:8.1f} {ratio:>9s}")

    single = child("memory", "napari", args.memory_slices, 3)
    ortho = child("memory", "ortho", args.memory_slices, 3)
    print(f"\nMemory (RSS) with a 512x512x{args.memory_slices} int16 volume "
          f"({single['data_mb']:.0f} MiB), fresh process each")
    print(f"napari single view: {single['rss_mb']:.0f} MiB")
    print(f"napari-nora ortho:  {ortho['rss_mb']:.0f} MiB = {ortho['rss_mb'] / single['rss_mb']:.2f}x "
          f"(+{ortho['rss_mb'] - single['rss_mb']:.0f} MiB; goal < 1.2x, no data copy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
