"""Open a 256^3 int16 and a 512x512x400 CT-sized .nii.gz into a ready layer.

Prints our time beside (a) ``numpy.asarray(nibabel.load(p).dataobj)`` and (b) the
``napari-nifti`` plugin's reader, measured in the same run, each in a fresh process so peak
memory (max RSS above the process's baseline) can be compared with the array's size. Also the
time from ``viewer.open`` to the first slice drawn on screen (needs a display: run under
``xvfb-run -a``).

Usage: python bench/open_nifti.py [--repeat N] [--no-screen]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("NORA_BENCH_CACHE", Path(tempfile.gettempdir()) / "nora-bench"))
SIZES = {"256^3": (256, 256, 256), "512x512x400 CT": (512, 512, 400)}

CHILD = r"""
import json, sys, time, gc
import numpy as np
which, path = sys.argv[1], sys.argv[2]
import nibabel
if which == "ours":
    from napari_nora.readers import read
    from napari.layers import Layer
elif which == "napari-nifti":
    from napari_nifti._reader import reader_function
# warm up: imports and first-call costs are not what we compare
import os, tempfile
tiny = os.path.join(tempfile.mkdtemp(), "tiny.nii.gz")
nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4)), tiny)
if which == "ours":
    Layer.create(*read(tiny)[0])
elif which == "napari-nifti":
    reader_function(tiny)
else:
    np.asarray(nibabel.load(tiny).dataobj)
gc.collect()
def hwm_kb():
    # VmHWM belongs to this process's memory map; ru_maxrss would carry the parent's peak
    # across exec (a parent that just generated the volumes looks like a 0 MiB peak here)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
base = hwm_kb()
t0 = time.perf_counter()
if which == "a":
    arr = np.asarray(nibabel.load(path).dataobj)
elif which == "ours":
    (t,) = read(path)
    layer = Layer.create(*t)
    arr = layer.data
elif which == "napari-nifti":
    (t,) = reader_function(path)
    arr = t[0]
dt = time.perf_counter() - t0
peak = hwm_kb() - base
print(json.dumps({"t": dt, "peak_kb": peak, "nbytes": int(np.asarray(arr).nbytes)}))
"""

SCREEN = r"""
import sys, time, os, tempfile
import numpy as np, nibabel
import napari
from qtpy.QtWidgets import QApplication
path, plugin = sys.argv[1], sys.argv[2]
viewer = napari.Viewer(show=True)
app = QApplication.instance()
tiny = os.path.join(tempfile.mkdtemp(), "tiny.nii.gz")
nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4)), tiny)
viewer.open(tiny, plugin=plugin)  # a running napari, plugin already loaded
app.processEvents()
viewer.layers.clear()
app.processEvents()
t0 = time.perf_counter()
viewer.open(path, plugin=plugin)
viewer.screenshot(canvas_only=True, flash=False)  # draws the canvas
print(time.perf_counter() - t0)
viewer.close()
"""


def make_volume(shape, path):
    """A CT-like volume: smooth head-shaped body in HU plus noise (compresses like CT)."""
    import nibabel as nib

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[: shape[2], : shape[1], : shape[0]]
    r = np.sqrt(((x - shape[0] / 2) / (0.42 * shape[0])) ** 2
                + ((y - shape[1] / 2) / (0.48 * shape[1])) ** 2
                + ((z - shape[2] / 2) / (0.6 * shape[2])) ** 2)
    vol = np.where(r < 1, 40, -1000).astype(np.int16)
    vol[(r > 0.9) & (r < 1)] = 900
    vol += rng.normal(0, 12, vol.shape).astype(np.int16)
    vol = np.ascontiguousarray(vol.transpose(2, 1, 0))  # (x, y, z)
    aff = np.diag([0.5, 0.5, 0.8, 1.0])
    nib.save(nib.Nifti1Image(vol, aff), path)
    return path


def child(which, path):
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(which, path, repeat):
    """Fastest time and largest peak memory over ``repeat`` fresh processes."""
    runs = [child(which, path) for _ in range(repeat)]
    return {"t": min(r["t"] for r in runs), "peak_kb": max(r["peak_kb"] for r in runs),
            "nbytes": runs[0]["nbytes"]}


def screen_time(path, plugin, repeat):
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", SCREEN, str(path), plugin],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-800:])
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-screen", action="store_true")
    args = ap.parse_args(argv)
    for label, shape in SIZES.items():
        p = make_volume(shape, CACHE / f"vol_{'x'.join(map(str, shape))}.nii.gz")
        a = best("a", p, args.repeat)
        b = best("napari-nifti", p, args.repeat)
        ours = best("ours", p, args.repeat)
        mb = ours["nbytes"] / 2**20
        print(f"{label}: array {mb:.0f} MiB, file {p.stat().st_size / 2**20:.0f} MiB")
        for name, r in (("(a) nibabel asarray", a), ("(b) napari-nifti", b), ("napari-nora", ours)):
            print(f"  {name:22s} {r['t']:6.2f} s  = {r['t'] / a['t']:4.2f}x (a)   "
                  f"peak {r['peak_kb'] / 1024:6.0f} MiB = {r['peak_kb'] * 1024 / r['nbytes']:4.2f}x array")
        if not args.no_screen and os.environ.get("DISPLAY"):
            ours_s = screen_time(p, "napari-nora", args.repeat)
            theirs_s = screen_time(p, "napari-nifti", args.repeat)
            print(f"  first slice on screen (viewer.open -> drawn): napari-nora {ours_s:.2f} s, "
                  f"napari-nifti {theirs_s:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
