"""Test set-up shared by all tests: isolated napari settings, real test data location."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# napari keeps settings and caches under $HOME: isolate them before napari is imported, so a
# saved reader preference or window layout cannot change results.
_ISOLATED = Path(tempfile.mkdtemp(prefix="nora-tests-home-"))
os.environ["XDG_CONFIG_HOME"] = str(_ISOLATED / "config")
os.environ["XDG_CACHE_HOME"] = str(_ISOLATED / "cache")
os.environ["XDG_DATA_HOME"] = str(_ISOLATED / "data")
os.environ.setdefault("NAPARI_CONFIG", str(_ISOLATED / "config" / "napari" / "settings.yaml"))
os.environ.pop("NORA_VIEW_CONVENTION", None)

TESTDATA = Path(os.environ.get("NORA_TESTDATA", Path.home() / ".cache/napari-nora/testdata"))


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Folder of real data fetched by scripts/fetch_testdata.sh (run by the test command)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"real test data missing at {TESTDATA}: run scripts/fetch_testdata.sh")
    return TESTDATA


@pytest.fixture
def rng():
    return __import__("numpy").random.default_rng(1234)


@pytest.fixture(scope="session", autouse=True)
def _napari_plugins():
    """Discover npe2 plugins once, so ``ViewerModel().open(..., plugin='napari-nora')`` works
    without a Qt viewer."""
    from napari.plugins import _initialize_plugins

    _initialize_plugins()
