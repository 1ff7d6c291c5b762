"""ROI statistics for 10 ROIs x 4 images at 256^3: ours beside direct numpy, same run.

ROIs are balls of radius 8 to 40 voxels (2 thousand to 270 thousand voxels) on a 1 mm 256^3
grid. Images: an int16 and a float32 volume on the ROI grid, an int16 display view (transposed
and flipped, as readers hand axis-aligned data to napari), and a float32 volume on an oblique
1.5 mm grid (sampled at the ROI voxels' world positions). The baseline is what one writes by
hand: ``image[mask]`` then ``np.median``, two ``np.percentile``, ``mean``, ``std`` per pair,
and the oblique image resampled onto the ROI grid first (``scipy.ndimage.affine_transform``).
Results must agree (checked). Goal: under 0.5 s for the 40 pairs.

Usage: python bench/roi_stats.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from napari_nora.roi import stats_table


def rotation(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def setup(rng):
    n = 256
    eye = np.eye(4)
    oblique = np.eye(4)
    oblique[:3, :3] = rotation(20) * 1.5
    oblique[:3, 3] = 128 - oblique[:3, :3] @ np.full(3, 90.0)  # centres both grids
    base = rng.normal(100, 30, (n, n, n)).astype(np.float32)
    images = {
        "t1 int16": (base.astype(np.int16), eye),
        "fa float32": (base / 300.0, eye),
        "ct view": (np.ascontiguousarray(base.astype(np.int16).transpose(2, 1, 0))[::-1, :, ::-1]
                    .transpose(2, 1, 0), eye),
        "pet oblique": (rng.normal(5, 1, (180, 180, 180)).astype(np.float32), oblique),
    }
    grid = np.ogrid[:n, :n, :n]
    rois = {}
    for k, r in enumerate(np.linspace(8, 40, 10)):
        c = rng.integers(50, 206, 3)
        mask = sum((g - ci) ** 2 for g, ci in zip(grid, c)) <= r * r
        rois[f"roi{k}"] = (mask, eye)
    return rois, images


def baseline(rois, images):
    rows = []
    resampled = {}
    for name, (img, aff) in images.items():
        if not np.allclose(aff, np.eye(4)):
            m = np.linalg.inv(aff)
            img = ndimage.affine_transform(img, m[:3, :3], offset=m[:3, 3], output_shape=(256,) * 3,
                                           order=1, mode="constant", cval=np.nan)
        resampled[name] = img
    for rname, (mask, _) in rois.items():
        for iname, img in resampled.items():
            v = img[mask].astype(np.float64)
            v = v[~np.isnan(v)]
            rows.append(dict(roi=rname, image=iname, voxels=int(mask.sum()), mean=v.mean(),
                             std=v.std(), median=np.median(v), p25=np.percentile(v, 25),
                             p75=np.percentile(v, 75)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rois, images = setup(np.random.default_rng(0))
    t_ours, t_base = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ours = stats_table(rois, images)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = baseline(rois, images)
        t_base.append(time.perf_counter() - t0)
    for a, b in zip(ours, ref):
        for key in ("mean", "std", "median", "p25", "p75"):
            tol = 1e-6 if a["image"] != "pet oblique" else 1e-4
            if not np.isclose(a[key], b[key], rtol=tol, atol=tol):
                raise SystemExit(f"{a['roi']} x {a['image']}: {key} {a[key]} != {b[key]}")
    voxels = sorted(r["voxels"] for r in ours[:: len(images)])
    print(f"10 ROIs ({voxels[0]}..{voxels[-1]} voxels) x {len(images)} images at 256^3")
    print(f"{'ours s':>8} {'numpy baseline s':>17} {'speed-up':>8}")
    print(f"{min(t_ours):8.3f} {min(t_base):17.3f} {min(t_base) / min(t_ours):7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
