"""Next-subject switch in the autoloader (arrow down) for 256^3 volumes: with the next study
preloaded in the background, beside a cold load without preloading, in the same run.

An archive (SQLite) holds ``--studies`` studies, each with a T1-like 256^3 int16 volume and an
overlay of the same size (``--gz``: as ``.nii.gz``). The autoloader shows them in a real napari
viewer with the workspace layout ``--layout``; each switch is timed from the key to the
viewer having processed the new layers and repainted. Preloaded: the user looks at a study
long enough for the next one to be read (we wait until it is). Cold: preloading off, the study
is read when the key is pressed. Each switch is reported twice: until the layers hold the new
study (what the desktop does), and until the window has repainted; the anchor is a repaint of
the unchanged window, which under Xvfb with software OpenGL (llvmpipe) is most of the second
figure. Goal (issue 8): under 200 ms with preloading.

Usage: xvfb-run -a python bench/desktop_autoload.py [--studies 9] [--layout ortho] [--gz]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

N = 256


def volume(seed: int) -> np.ndarray:
    """A head-like blob with noise (compresses like a scan, not like zeros)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:N, :N, :N]
    r2 = ((z - N / 2) / 100) ** 2 + ((y - N / 2) / 110) ** 2 + ((x - N / 2) / 90) ** 2
    vol = np.where(r2 < 1, 600 + 300 * np.cos(6 * r2), 0).astype(np.int16)
    vol += rng.integers(0, 40, vol.shape, dtype=np.int16)
    return vol


def make_archive(root: Path, studies: int, gz: bool):
    import nibabel as nib

    from nora_server.archive import AddItem, Archive
    from nora_server.archive.admin import ensure_user
    from nora_server.archive.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{root / 'bench.sqlite'}")
    upgrade(engine)
    ensure_user(engine, "bench", is_admin=True)
    archive = Archive(engine, root / "storage")
    archive.storage.mkdir(exist_ok=True)
    session = archive.session("bench")
    session.create_project("qc")
    ext = ".nii.gz" if gz else ".nii"
    aff = np.diag([-1.0, 1.0, 1.0, 1.0])
    aff[:3, 3] = (128, -128, -128)
    for i in range(studies):
        src = root / f"src{i}"
        src.mkdir()
        vol = volume(i)
        nib.save(nib.Nifti1Image(vol, aff), src / f"t1{ext}")
        nib.save(nib.Nifti1Image((vol > 700).astype(np.int16) * 100, aff), src / f"ov{ext}")
        session.add_files("qc", [AddItem(src / f"t1{ext}", f"S{i:03d}#1", f"t1/t1{ext}"),
                                 AddItem(src / f"ov{ext}", f"S{i:03d}#1", f"ov/ov{ext}")])
    return session


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=9)
    ap.add_argument("--layout", default="ortho")
    ap.add_argument("--gz", action="store_true", help="store the volumes as .nii.gz")
    a = ap.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_nora.widgets.desktop import DesktopWidget
    from napari_nora.widgets.desktop_context import DesktopContext
    from nora_server.desktop.autoload import AutoloadList, AutoPattern

    root = Path(tempfile.mkdtemp(prefix="nora-bench-autoload-"))
    t0 = time.perf_counter()
    session = make_archive(root, a.studies, a.gz)
    print(f"{a.studies} studies x 2 volumes of {N}^3 int16 ({'.nii.gz' if a.gz else '.nii'}) "
          f"written in {time.perf_counter() - t0:.1f} s; layout {a.layout}")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    ctx = DesktopContext(session, viewer=viewer)
    desktop = DesktopWidget(viewer, ctx, "qc")
    viewer.window.add_dock_widget(desktop, area="left")
    desktop.wait(600_000)
    auto = desktop.tools["Autoloader"]
    desktop.tabs.setCurrentWidget(auto)  # where the user is during QC
    auto.set_spec(AutoloadList([AutoPattern("t1/*", "background"),
                                AutoPattern("ov/*", "overlay")], a.layout))
    app = QApplication.instance()

    def settle():
        for _ in range(3):
            app.processEvents()

    def shown() -> bool:
        return bool(auto.layers) and auto.layers[0].metadata["nora_archive"]["ref"] == auto.current

    def switch() -> tuple[float, float]:
        """(ms until the layers hold the new study, ms until the window has repainted)"""
        previous = auto.current
        t = time.perf_counter()
        auto.step(+1)  # with the study preloaded, the arrays are swapped in right here
        while auto.current == previous or not shown():
            app.processEvents()
        t_layers = time.perf_counter()
        settle()  # the canvases repaint with the new slices
        t_paint = time.perf_counter()
        return (t_layers - t) * 1000, (t_paint - t) * 1000

    def repaint() -> float:
        """The anchor: repainting the same window with nothing changed."""
        t = time.perf_counter()
        viewer.window._qt_window.repaint()
        settle()
        return (time.perf_counter() - t) * 1000

    ctx.selection = ["S000#1"]
    auto.start()
    desktop.wait(600_000)
    settle()
    preloaded, cold = [], []
    for _ in range(a.studies // 2):
        desktop.wait(600_000)  # the user looks at the study; the next one is read meanwhile
        assert ctx.neighbour(auto.current, +1) in auto.cache
        preloaded.append(switch())
    auto.preload.setChecked(False)
    desktop.wait(600_000)
    while ctx.neighbour(auto.current, +1) is not None:
        auto.cache.clear()
        cold.append(switch())
    paint = statistics.median(repaint() for _ in range(5))

    def line(label, times):
        layers = statistics.median(t[0] for t in times)
        total = statistics.median(t[1] for t in times)
        print(f"{label:28} {layers:8.0f} ms {total:12.0f} ms   (n={len(times)})")

    print(f"{'':28} {'new layers':>11} {'+ repainted':>15}")
    line("switch with preloading", preloaded)
    line("cold load, no preloading", cold)
    print(f"{'anchor: repaint, no change':28} {'':11} {paint:12.0f} ms   (this display's cost)")
    print("goal: < 200 ms with preloading")
    ctl = getattr(viewer, "_nora_workspace", None)
    if ctl is not None:
        ctl.state.layout = "single"
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
