"""dcmtk's ``storescu`` sending 500 images to our DICOM node, beside dcmtk's ``storescp``
receiving the same (issue 6). Goal: at least 300 images/s including spooling.

Both receivers run as their own process on a free loopback port, both sides with Nagle's
algorithm off (``TCP_NODELAY=1`` for dcmtk; our node sets the socket option itself). Ours is
the node's real receive path: each instance written to the spool (an empty file made ahead
filled, fsync, rename, fsync of the folder) before it is acknowledged; a second row shows the same node with fsync
off, to tell disk from protocol. ``storescp`` writes each file without fsync. The figure is
images / wall time of the whole ``storescu`` run (one association, 500 C-STOREs); every run
is checked to have stored all 500 instances. The images are 256x256 MR slices with a real GE
header (``bench/dicom_data.py``).

Usage: python bench/dicom_receive.py [--images 500] [--repeat 3]
       python bench/dicom_receive.py --serve PORT SPOOL [--no-fsync]   (our node, used above)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dicom_data import CACHE, make_series  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def dcmtk(name: str) -> str:
    """dcmtk's ``name``, not pynetdicom's console script of the same name in this venv."""
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d and Path(d).resolve() != venv_bin and (found := shutil.which(name, path=d)):
            return found
    raise SystemExit(f"{name} (dcmtk) missing: bash scripts/services/dicom.sh install")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def serve(port: int, spool: str, fsync: bool) -> int:
    """Our node alone: C-ECHO and C-STORE into the spool, no import."""
    import logging

    from nora_server.dicom.node import DicomNode
    from nora_server.dicom.settings import DicomSettings
    from nora_server.dicom.spool import Spool

    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    settings = DicomSettings(ae_title="NORA", host="127.0.0.1", port=port, open=True)
    node = DicomNode(settings, Spool(Path(spool), fsync=fsync))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    node.start()
    while not stop:
        time.sleep(0.1)
    node.stop()
    return 0


def start_ours(port: int, out: Path, fsync: bool):
    cmd = [sys.executable, __file__, "--serve", str(port), str(out)]
    if not fsync:
        cmd.append("--no-fsync")
    return subprocess.Popen(cmd, env=ENV, start_new_session=True)


def start_storescp(port: int, out: Path):
    return subprocess.Popen([dcmtk("storescp"), "-od", str(out), "-aet", "STORESCP", str(port)],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def send(port: int, folder: Path, called: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([dcmtk("storescu"), "-aec", called, "+sd", "127.0.0.1", str(port),
                           str(folder)], env=ENV, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"storescu failed: {proc.stderr[-1000:]}")
    return dt


def received(out: Path, kind: str) -> int:
    if kind == "storescp":  # storescp names files <modality>.<SOPInstanceUID>
        return sum(1 for p in out.iterdir() if p.is_file())
    return sum(1 for _ in (out / "incoming").rglob("*.dcm"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(kind: str, folder: Path, n: int, work: Path) -> tuple[float, float]:
    """(images/s, receiver CPU ms per image) of one storescu run."""
    port = free_port()
    out = Path(tempfile.mkdtemp(dir=work, prefix=kind))
    if kind == "storescp":
        proc, called = start_storescp(port, out), "STORESCP"
    else:
        proc, called = start_ours(port, out, fsync=kind == "nora"), "NORA"
    try:
        wait_port(port, proc)
        time.sleep(0.3)  # let the receiver settle: its start-up CPU is not the figure
        os.sync()        # no write-back of the previous run's files during this one
        cpu0 = cpu_seconds(proc.pid)
        dt = send(port, folder, called)
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    got = received(out, kind)
    if got != n:
        raise RuntimeError(f"{kind}: {got} of {n} instances on disk")
    shutil.rmtree(out, ignore_errors=True)
    return n / dt, cpu / n * 1e3


def spool_write_ms(work: Path, fsync: bool, n: int = 50) -> float:
    """The spool's write alone (128 KiB instances), ms each: what the disk costs."""
    from nora_server.dicom.spool import Spool

    spool = Spool(Path(tempfile.mkdtemp(dir=work)), fsync=fsync)
    data = os.urandom(131072)
    t0 = time.perf_counter()
    for i in range(n):
        spool.store("1.2.3", f"1.2.3.{i}", data)
    return (time.perf_counter() - t0) / n * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--serve", nargs=2, metavar=("PORT", "SPOOL"))
    ap.add_argument("--no-fsync", action="store_true")
    args = ap.parse_args(argv)
    if args.serve:
        return serve(int(args.serve[0]), args.serve[1], not args.no_fsync)
    for tool in ("storescu", "storescp"):
        dcmtk(tool)
    folder = make_series(args.images)
    size = sum(f.stat().st_size for f in folder.glob("*.dcm")) / 2**20
    print(f"images: {args.images} files, {size:.0f} MiB at {folder}")
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores, shared machine)")
    work = Path(tempfile.mkdtemp(dir=CACHE, prefix="receive-"))
    kinds = ["storescp", "nora", "nora-nofsync"]
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    cpus: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        for _ in range(args.repeat):
            for k in kinds:
                rate, cpu = one_run(k, folder, args.images, work)
                rates[k].append(rate)
                cpus[k].append(cpu)
        disk = {fs: spool_write_ms(work, fs) for fs in (True, False)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    labels = {"storescp": "dcmtk storescp (anchor, no fsync)",
              "nora": "nora node, spool with fsync",
              "nora-nofsync": "nora node, spool without fsync"}
    anchor = statistics.median(rates["storescp"])
    print(f"\n{'':36s}{'median img/s':>14s}{'max img/s':>11s}{'of anchor':>11s}"
          f"{'CPU ms/img':>12s}")
    for k in kinds:
        med = statistics.median(rates[k])
        print(f"{labels[k]:36s}{med:14.0f}{max(rates[k]):11.0f}{med / anchor:10.0%}"
              f"{statistics.median(cpus[k]):12.2f}")
    print(f"spool write alone, 128 KiB: {disk[True]:.1f} ms with fsync, "
          f"{disk[False]:.1f} ms without")
    ours = statistics.median(rates["nora"])
    print(f"goal: at least 300 images/s including spooling -> "
          f"{'met' if ours >= 300 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
