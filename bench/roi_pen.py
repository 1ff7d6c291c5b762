"""One pen stroke on a 512x512 slice: ours (work on the pen's box) beside a whole-slice baseline.

The image is a synthetic 512x512x40 CT-like int16 volume with 0.5 mm pixels; pens are 2D (in an
axial slice) with radius 10 mm (20 pixels) and 25 mm (50 pixels). For each pen we time:

* one dab: the pen's patch alone;
* one stroke: press, a 20-dab drag of 40 pixels, release, applied through ``History`` (so
  undo is included);
* the baseline: the same dab computed on the whole slice (distance map of the slice, threshold or
  similarity of the slice, ``scipy.ndimage.label`` of the slice for the connected pens), OR-ed
  into the slice, with a copy of the slice kept for undo; the masks must be equal (checked).

Goal: a stroke under 20 ms.

Usage: python bench/roi_pen.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from napari_nora.roi import History, brush, interpolate_path, magic_pen, threshold_pen

SPACING = (3.0, 0.5, 0.5)
WINDOW = (-100.0, 300.0)


def phantom(rng):
    shape = (40, 512, 512)
    y, x = np.ogrid[:512, :512]
    img = np.full(shape, -1000.0, np.float32)
    img[:, ((y - 256) ** 2 + (x - 256) ** 2) < 220 ** 2] = 40  # body
    img[:, ((y - 200) ** 2 + (x - 300) ** 2) < 30 ** 2] = 150  # enhancing organ
    img += rng.normal(0, 12, shape).astype(np.float32)
    return img.astype(np.int16)


def pens(radius):
    kw = dict(radius=radius, spacing=SPACING, axis=0)
    return {
        "brush": lambda img, c: brush(img, c, **kw),
        "threshold higher": lambda img, c: threshold_pen(img, c, threshold=100, **kw),
        "threshold RGrow": lambda img, c: threshold_pen(img, c, threshold=100, connected=True,
                                                        **kw),
        "magic": lambda img, c: magic_pen(img, c, window=WINDOW, tolerance=0.1, **kw),
        "magic connected": lambda img, c: magic_pen(img, c, window=WINDOW, tolerance=0.1,
                                                    connected=True, **kw),
    }


def baseline(name, img, c, radius):
    """The same dab computed over the whole slice (a (512, 512) mask)."""
    sl = img[c[0]]
    yy, xx = np.ogrid[: sl.shape[0], : sl.shape[1]]
    disc = ((yy - c[1]) * SPACING[1]) ** 2 + ((xx - c[2]) * SPACING[2]) ** 2 <= radius ** 2 + 1e-9
    if name == "brush":
        sel = disc
    elif name.startswith("threshold"):
        sel = disc & (sl >= 100)
    else:
        sel = disc & (np.abs(sl.astype(np.float32) - float(sl[c[1], c[2]]))
                      <= 0.1 * (WINDOW[1] - WINDOW[0]))
    if name.endswith(("RGrow", "connected")):
        lab, _ = ndimage.label(sel)
        sel = (lab == lab[c[1], c[2]]) & sel[c[1], c[2]]
    return sel


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    img = phantom(np.random.default_rng(0))
    c = (20, 210, 290)
    path = [c] + [tuple(p) for p in interpolate_path(c, (20, 230, 330), step=2)]
    print(f"{'pen':>18} {'radius':>7} {'dab ms':>7} {'stroke ms':>9} {'baseline dab ms':>15} "
          f"{'baseline stroke ms':>18}")
    for radius in (10.0, 25.0):
        for name, pen in pens(radius).items():
            ours = pen(img, c).to_mask(img.shape)
            in_slice = ours[c[0]]
            if not np.array_equal(in_slice, baseline(name, img, c, radius)) or (
                    ours.sum() != in_slice.sum()):
                raise SystemExit(f"{name} differs from the whole-slice baseline")
            t_dab = best(lambda: pen(img, c), args.repeat)
            t_base = best(lambda: baseline(name, img, c, radius), args.repeat)

            def stroke():
                h = History(np.zeros(img.shape, bool))
                h.begin_stroke()
                for p in path:
                    h.paint(pen(img, p))
                h.end_stroke()

            def base_stroke():
                m = np.zeros(img.shape, bool)
                snapshot = m[c[0]].copy()  # a naive undo keeps the whole slice
                for p in path:
                    m[c[0]] |= baseline(name, img, tuple(int(round(v)) for v in p), radius)
                return snapshot

            t_stroke = best(stroke, max(args.repeat // 4, 3))
            t_bstroke = best(base_stroke, 3)
            print(f"{name:>18} {radius:5.0f}mm {t_dab:7.3f} {t_stroke:9.2f} {t_base:15.3f} "
                  f"{t_bstroke:18.1f}")
    print(f"stroke = press + {len(path) - 1}-dab drag + release, with undo recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
