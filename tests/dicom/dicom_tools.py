"""dcmtk's and Orthanc's programs for the DICOM tests, importable by the test modules
(``from tests.dicom.dicom_tools import run_tool``: ``from conftest import`` got whichever
conftest.py pytest imported last)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PEER_TOOLS = ("Orthanc", "echoscu", "storescu", "findscu", "movescu", "getscu", "storescp",
              "dcmqrscp")
ENV = {**os.environ, "TCP_NODELAY": "1"}


def peer_tool(name: str) -> str | None:
    """The dcmtk (or Orthanc) program ``name`` on PATH, never pynetdicom's console script of
    the same name in this virtual environment (pynetdicom installs ``storescu``, ``echoscu``
    ... beside python: an activated venv would otherwise test pynetdicom against itself)."""
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d and Path(d).resolve() != venv_bin:
            found = shutil.which(name, path=d)
            if found:
                return found
    return None


def run_tool(*args, check=True, timeout=60) -> subprocess.CompletedProcess:
    """Run a dcmtk client with TCP_NODELAY=1."""
    args = [peer_tool(args[0]) or args[0], *args[1:]]
    proc = subprocess.run([str(a) for a in args], env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc
