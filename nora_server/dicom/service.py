"""The DICOM node as a service: ``noractl start|stop|status dicom``.

``run(config)`` runs the node in the foreground until SIGTERM/SIGINT; quiet studies are
imported into the project chosen by a pull hint (``nora pacs pull --move``), the called AE
title, tag rules or the default project. ``start``/``stop``/``status`` manage it as a
background process with a pid file and a log in the spool folder.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from nora_server.dicom.headers import index_paths
from nora_server.dicom.settings import DicomSettings
from nora_server.dicom.spool import Spool, write_atomic

log = logging.getLogger(__name__)


def load(config: str | None):
    """(archive Settings, DicomSettings) from nora.toml."""
    from nora_server.config import load_settings

    settings = load_settings(config)
    dicom = DicomSettings.from_mapping(settings.sections, storage_root=settings.storage)
    return settings, dicom


def hint_path(spool_root: Path, study_uid: str) -> Path:
    return Path(spool_root) / "hints" / f"{study_uid}.json"


def write_hint(spool_root: Path, study_uid: str, project: str) -> None:
    """Tell the node which project a study pulled by C-MOVE belongs to."""
    folder = Path(spool_root) / "hints"
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    write_atomic(hint_path(spool_root, study_uid), json.dumps({"project": project}).encode(),
                 tmp_dir=folder / "tmp")


def wait_for_node_import(dicom: DicomSettings, study_uid: str, *, timeout: float = 600,
                         poll_s: float = 0.5) -> str:
    """After a C-MOVE to the running node: "imported" once the node has imported the study
    (its hint is gone), "failed: <reason>" when it moved to the spool's failed/ folder,
    "pending" when ``timeout`` passed first."""
    hint = hint_path(dicom.spool, study_uid)
    failed = Path(dicom.spool) / "failed"
    end, since = time.monotonic() + timeout, time.time() - 1
    while True:
        for folder in sorted(failed.glob(f"{study_uid}.*")) if failed.is_dir() else []:
            if folder.stat().st_mtime < since:
                continue  # an older failure of the same study
            reason = (folder / "error.txt").read_text() if (folder / "error.txt").is_file() \
                else "unknown"
            return f"failed: {reason.strip()} (kept in {folder})"
        if not hint.exists():
            return "imported"
        if time.monotonic() > end:
            return "pending"
        time.sleep(poll_s)


def make_on_study(session, dicom: DicomSettings, spool_root: Path, settings=None,
                  archive=None):
    """The node's hand-over: import a quiet spooled study into its project (a pull hint,
    the called AE title, tag rules, the default project), then start the project's
    autoexecution queue when its policy names one."""
    from nora_server.dicom.api import import_into_project

    def on_study(folder: Path, route: dict) -> None:
        files = Spool.instances(folder)
        index = index_paths(files[:1])
        first = next(iter(index.series.values()), None)
        summary = first.summary if first else {}
        hint = hint_path(spool_root, first.study_uid) if first else None
        project = None
        if hint is not None and hint.is_file():
            project = json.loads(hint.read_text()).get("project")
        project = project or dicom.project_for(route, summary)
        if not project:
            raise RuntimeError(f"no project for study from {route.get('calling_aet')} "
                               f"(called {route.get('called_aet')}): set [dicom] default_project "
                               "or a route/rule in nora.toml")
        report = import_into_project(session, project, folder, dicom=dicom)
        for line in report.lines():
            log.info("%s: %s", project, line)
        if report.errors:  # the study stays in the spool's failed/ folder with the reasons
            raise RuntimeError("; ".join(f"{f}: {why}" for f, why in report.errors[:5]))
        if hint is not None:
            hint.unlink(missing_ok=True)
        queue = dicom.policy(project).autoexec
        if queue and report.refs and settings is not None:
            from nora_server.dicom.autoexec import launch_autoexec
            try:
                launch_autoexec(settings, archive, session, project, report.refs, queue)
            except Exception:  # noqa: BLE001  (imported: the batch failing is only logged)
                log.exception("autoexec %s of %s for %s failed to launch", queue, project,
                              ", ".join(report.refs))

    return on_study


def run(config: str | None = None, *, user: str | None = None) -> int:
    """Run the node in the foreground until SIGTERM or SIGINT."""
    from nora_server.archive.core import Archive
    from nora_server.dicom.node import DicomNode

    settings, dicom = load(config)
    archive = Archive.from_settings(settings)
    session = archive.session(user or dicom.user)
    spool = Spool(dicom.spool, fsync=dicom.fsync)
    node = DicomNode(dicom, spool, make_on_study(session, dicom, dicom.spool, settings, archive))
    stop = threading.Event()
    import faulthandler
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: stacks to the log
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    node.start()
    print(f"DICOM node {dicom.ae_title} listening on {dicom.host}:{node.port}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        node.stop()
        archive.dispose()
    return 0


# -- background process management -------------------------------------------------------

def _pidfile(dicom: DicomSettings) -> Path:
    return Path(dicom.spool) / "node.pid"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_pid(dicom: DicomSettings) -> int | None:
    try:
        pid = int(_pidfile(dicom).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def start(config: str | None, *, timeout: float = 20.0) -> tuple[int, str]:
    """Start the node in the background; returns (pid, log path). Waits until it answers."""
    from nora_server.dicom.scu import DicomNetworkError, echo
    from nora_server.dicom.settings import RemoteNode

    _, dicom = load(config)
    if dicom.spool is None:
        raise RuntimeError("no spool folder: set [dicom] spool in nora.toml")
    pid = running_pid(dicom)
    if pid is not None:
        raise RuntimeError(f"the DICOM node runs already (pid {pid})")
    Path(dicom.spool).mkdir(parents=True, exist_ok=True)
    logfile = Path(dicom.spool) / "node.log"
    cmd = [sys.executable, "-m", "nora_server.dicom.service"]
    if config:
        cmd += ["--config", str(config)]
    env = {**os.environ, "TCP_NODELAY": "1"}
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _pidfile(dicom).write_text(f"{proc.pid}\n")
    me = RemoteNode("self", dicom.ae_title, dicom.host if dicom.host != "0.0.0.0" else "127.0.0.1",
                    dicom.port)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the DICOM node exited at start (code {proc.returncode}); "
                               f"see {logfile}")
        with socket.socket() as s:
            listening = s.connect_ex((me.host, me.port)) == 0
        if listening:
            try:
                echo(me, ae_title=dicom.ae_title)
                return proc.pid, str(logfile)
            except DicomNetworkError as exc:
                raise RuntimeError(f"the DICOM node listens but does not answer C-ECHO: {exc}; "
                                   f"see {logfile}") from None
        time.sleep(0.1)
    raise RuntimeError(f"the DICOM node did not answer C-ECHO within {timeout:.0f} s; "
                       f"see {logfile}")


def stop(config: str | None, *, timeout: float = 20.0) -> int | None:
    """Stop the background node; returns its pid, or None when none ran."""
    _, dicom = load(config)
    pid = running_pid(dicom)
    if pid is None:
        _pidfile(dicom).unlink(missing_ok=True)
        return None
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"the DICOM node (pid {pid}) did not stop within {timeout:.0f} s")
    _pidfile(dicom).unlink(missing_ok=True)
    return pid


def status(config: str | None) -> dict:
    _, dicom = load(config)
    out = {"ae_title": dicom.ae_title, "host": dicom.host, "port": dicom.port,
           "spool": str(dicom.spool), "pid": running_pid(dicom),
           "accepts": "any AE title and host" if dicom.open else sorted(
               f"{ae}@{ip}" for ae, ip in dicom.configured_peers())}
    if dicom.spool is not None and Path(dicom.spool).is_dir():
        root = Path(dicom.spool)
        for part in ("incoming", "ready", "failed"):
            d = root / part
            out[part] = sum(1 for p in d.iterdir() if p.is_dir()) if d.is_dir() else 0
    return out


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m nora_server.dicom.service")
    p.add_argument("--config")
    p.add_argument("--user")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("pynetdicom", "alembic"):  # one line per association is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run(a.config, user=a.user)


if __name__ == "__main__":
    sys.exit(main())
