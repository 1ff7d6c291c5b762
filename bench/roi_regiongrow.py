"""3D region growing from a seed: ours (growing box) beside whole-image ``scipy.ndimage.label``.

Synthetic phantoms (int16, seeded noise): a 256^3 MR-like head and a 512x512x400 CT-like
volume, each with a small lesion (radius 10 voxels), an organ (radius 60 voxels) and a
background seed whose region fills most of the image. Both methods must return the same mask
(checked). ``skimage.segmentation.flood`` (a compiled flood fill) is shown too when installed.
Goal: under 0.3 s at 256^3 and faster than the label baseline.

Usage: python bench/roi_regiongrow.py [--repeat N] [--small]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_nora.roi import region_grow, region_grow_label


def phantom(shape, rng):
    z, y, x = np.ogrid[tuple(slice(0, n) for n in shape)]
    c = [n // 2 for n in shape]
    img = np.full(shape, 100.0, np.float32)
    organ = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 60 ** 2
    img[organ] = 400
    lc = (c[0] + 20, c[1] + 80, c[2] - 80)
    lesion = (z - lc[0]) ** 2 + (y - lc[1]) ** 2 + (x - lc[2]) ** 2 <= 10 ** 2
    img[lesion] = 800
    img += rng.normal(0, 25, shape).astype(np.float32)
    cases = {"lesion r=10": (lc, 100), "organ r=60": (tuple(c), 100),
             "background": ((3, 3, 3), 100)}
    return img.astype(np.int16), cases


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="only 256^3")
    args = ap.parse_args(argv)
    try:
        from skimage.segmentation import flood
    except ImportError:  # optional third column
        flood = None
    rng = np.random.default_rng(0)
    sizes = [(256, 256, 256)] + ([] if args.small else [(400, 512, 512)])
    print(f"{'volume':>12} {'region':>12} {'voxels':>10} {'ours s':>8} {'label s':>8} "
          f"{'speed-up':>8} {'skimage flood s':>15}")
    for shape in sizes:
        img, cases = phantom(shape, rng)
        for name, (seed, tol) in cases.items():
            t_ours, ours = best_of(lambda: region_grow(img, seed, tolerance=tol), args.repeat)
            t_ref, ref = best_of(lambda: region_grow_label(img, seed, tolerance=tol), args.repeat)
            if not np.array_equal(ours, ref):
                raise SystemExit(f"mismatch for {name} at {shape}")
            t_fl = best_of(lambda: flood(img, seed, tolerance=tol), 1)[0] if flood else np.nan
            label = "x".join(map(str, shape[::-1]))
            print(f"{label:>12} {name:>12} {int(ours.sum()):>10} {t_ours:8.3f} {t_ref:8.3f} "
                  f"{t_ref / t_ours:7.1f}x {t_fl:15.3f}")
        del img
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
