"""Fixtures of the desktop tools (batch tool, job monitor, PACS query): the archive's demo
project on SQLite and MariaDB (tests/server), a site nora.toml with the local batch executor,
and a real Orthanc holding synthetic patients with known names, dates and modalities.

A missing MariaDB or Orthanc FAILS these tests (see tests/server and tests/dicom).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.dicom.conftest import Orthanc, node_port, peers_installed  # noqa: F401
from tests.desktop_tools.pacs_data import LOAD_PATIENTS, PACS_PATIENTS, load_studies, write_study
from tests.server.conftest import admin, archive, backend, demo, engine  # noqa: F401


@pytest.fixture(scope="session")
def pacs(node_port, tmp_path_factory):  # noqa: F811
    """A real Orthanc with PACS_PATIENTS and LOAD_PATIENTS; ``pacs.studies[pid]`` is the
    StudyInstanceUID of each named patient's study."""
    root = tmp_path_factory.mktemp("pacs")
    orthanc = Orthanc(root, node_port)
    try:
        studies, files = {}, []
        for n, (name, pid, birth, date, desc, mod, series) in enumerate(PACS_PATIENTS):
            studies[pid], f = write_study(root / "data", name, pid, birth, date, desc, mod,
                                          series, number=n)
            files += f
        files += load_studies(root / "load", LOAD_PATIENTS)
        orthanc.upload(files)
        orthanc.studies = studies
        yield orthanc
    finally:
        orthanc.stop()


@pytest.fixture
def site(demo, tmp_path, node_port):  # noqa: F811
    """nora.toml for the demo archive: local batch executor, our DICOM node on ``node_port``,
    the test Orthanc as PACS ``orthanc`` (C-MOVE) and ``orthanc_get`` (C-GET)."""
    def write(pacs_port: int | None = None) -> Path:
        url = demo.engine.url.render_as_string(hide_password=False)
        text = (f'[archive]\ndatabase = "{url}"\nstorage = "{demo.storage}"\n'
                f'[batch]\nexecutor = "local"\nfolder = "{tmp_path / "jobs"}"\n'
                f'[dicom]\nae_title = "NORA"\nhost = "127.0.0.1"\nport = {node_port}\n'
                f'spool = "{tmp_path / "spool"}"\nquiet_seconds = 0.5\nuser = "admin"\n')
        if pacs_port:
            text += (f'[pacs.orthanc]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\n'
                     f'port = {pacs_port}\nretrieve = "move"\n'
                     f'[pacs.orthanc_get]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\n'
                     f'port = {pacs_port}\nretrieve = "get"\n')
        path = tmp_path / "nora.toml"
        path.write_text(text)
        return path
    return write


@pytest.fixture
def make_context(site, demo):
    """``make_context(user="admin", pacs=None) -> DesktopContext`` on project ``demo``."""
    from nora_server.config import load_settings

    from napari_nora.widgets.desktop_context import DesktopContext

    def make(user: str = "admin", pacs=None):
        settings = load_settings(site(pacs.dicom_port if pacs else None))
        ctx = DesktopContext(demo.session(user), settings)
        ctx.project = "demo"
        return ctx
    return make


@pytest.fixture
def idle(qtbot):
    """``idle(*widgets, timeout=...)``: wait until no worker of the widgets runs."""
    def wait(*widgets, timeout: float = 60.0):
        qtbot.waitUntil(lambda: not any(w.busy for w in widgets), timeout=int(timeout * 1000))
    return wait


class Ticks:
    """Counts QTimer ticks of the GUI event loop (10 ms) while work runs elsewhere."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.count = 0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self):
        self.count += 1

    def __enter__(self):
        self.count, self.t0 = 0, time.monotonic()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()
        self.seconds = time.monotonic() - self.t0


@pytest.fixture
def ticks():
    return Ticks
