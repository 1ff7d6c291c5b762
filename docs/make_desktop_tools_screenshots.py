"""Screenshots of the desktop tools with real content, for docs/desktop-tools.md.

Run from the repository root under a display, e.g.
``xvfb-run -a .venv/bin/python docs/make_desktop_tools_screenshots.py``. It builds a small
archive (SQLite) with the tests' demo project, runs batches with the local executor and starts
an Orthanc with the tests' synthetic patients (both from ``tests/``), then writes
docs/images/desktop-batch-tool.png, desktop-job-monitor.png and desktop-pacs-query.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
OUT = ROOT / "docs" / "images"


def wait(app, until, timeout=90.0):
    end = time.monotonic() + timeout
    while not until():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {until}")
        app.processEvents()
        time.sleep(0.02)


def make_archive(tmp: Path, node_port: int, pacs_port: int):
    from nora_server.archive import AddItem
    from tests.server.conftest import DEMO_FILES, DEMO_STUDIES, DEMO_SUBJECTS, new_archive

    url = f"sqlite:///{tmp / 'nora.sqlite'}"
    archive, admin = new_archive(url, tmp, description="demo project")
    items = []
    for ref, paths in DEMO_FILES.items():
        for p in paths:
            src = tmp / "src" / ref.replace("#", "_") / p
            src.parent.mkdir(parents=True, exist_ok=True)
            src.write_bytes(p.encode())
            items.append(AddItem(src, ref, p))
    admin.add_files("demo", items, subject_info=DEMO_SUBJECTS, study_info=DEMO_STUDIES)
    config = tmp / "nora.toml"
    config.write_text(
        f'[archive]\ndatabase = "{url}"\nstorage = "{archive.storage}"\n'
        f'[batch]\nexecutor = "local"\nfolder = "{tmp / "jobs"}"\n'
        f'[dicom]\nae_title = "NORA"\nport = {node_port}\nspool = "{tmp / "spool"}"\n'
        f'[pacs.hospital]\nae_title = "ORTHANC"\nhost = "127.0.0.1"\nport = {pacs_port}\n'
        'retrieve = "move"\n')
    return archive, config


def styled(widget, size):
    from napari.qt import get_stylesheet

    widget.setStyleSheet(get_stylesheet("dark"))
    widget.resize(*size)
    widget.show()
    return widget


def shot(app, widget, name):
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    path = OUT / name
    widget.grab().save(str(path))
    print("wrote", path)


def main():
    from napari.qt import get_qapp
    from qtpy.QtCore import Qt

    from dicom.conftest import Orthanc, free_port
    from nora_server.config import load_settings
    from tests.desktop_tools.pacs_data import PACS_PATIENTS, write_study

    from napari_nora.widgets.batch_tool import BatchToolWidget
    from napari_nora.widgets.desktop_context import DesktopContext
    from napari_nora.widgets.job_monitor import JobMonitorWidget
    from napari_nora.widgets.pacs_query import PacsQueryWidget

    app = get_qapp()  # with napari's theme resources
    OUT.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="nora-shots-"))
    node_port = free_port()
    (tmp / "orthanc").mkdir()
    orthanc = Orthanc(tmp / "orthanc", node_port)
    try:
        files = []
        for n, (name, pid, birth, date, desc, mod, series) in enumerate(PACS_PATIENTS):
            files += write_study(tmp / "dicom", name, pid, birth, date, desc, mod, series,
                                 number=n)[1]
        orthanc.upload(files)
        archive, config = make_archive(tmp, node_port, orthanc.dicom_port)
        ctx = DesktopContext(archive.session("admin"), load_settings(config))
        ctx.project = "demo"

        # -- batch tool: a BASH job with its rows and previews on three subjects -------------
        ctx.selection = ["P001#S1", "P002#S1", "P003#S1"]
        tool = styled(BatchToolWidget(ctx), (640, 760))
        tool.name.setText("concat t1")
        tool.add_job("bash")
        editor = tool.jobs_editor
        editor.job_name.setText("concat")
        editor.job_name.textEdited.emit("concat")
        editor.code.setPlainText("cat $f1 > $o1\necho \"$s1 done\" >> $o1")
        wait(app, lambda: "s1" in editor.rows)
        editor.rows["f1"].text.setText("t1_trio*/s0*.nii")
        editor.rows["o1"].text.setText("derived/t1cat.nii TAG(cat)")
        editor.rows["s1"].text.setText("concat")
        for row in editor.rows.values():
            row.changed.emit(row.var)
        wait(app, lambda: "match" in editor.rows["f1"].preview.text())
        tool.save_to_archive()
        shot(app, tool, "desktop-batch-tool.png")

        # -- job monitor: done, failed (with its log), running, queued ----------------------
        tool.launch()
        wait(app, lambda: not tool.busy)
        ctx.selection = ["P001#S2", "P002#S1"]
        editor.code.setPlainText("sleep 120; cat $f1 > $o1")
        editor.flush()
        tool.cpus.setValue(1)
        tool.launch()
        wait(app, lambda: not tool.busy)
        monitor = styled(JobMonitorWidget(ctx, interval_s=0.5), (900, 620))
        monitor.show_done.setChecked(True)
        wait(app, lambda: sorted({r["state"] for r in monitor.model.rows}) ==
             ["done", "error", "running"], timeout=120)
        failed = next(r["id"] for r in monitor.model.rows if r["state"] == "error")
        monitor.select_jobs([failed])
        wait(app, lambda: "==> stderr" in monitor.log_view.toPlainText())
        shot(app, monitor, "desktop-job-monitor.png")
        monitor.select_jobs([r["id"] for r in monitor.model.rows if r["state"] == "running"])
        monitor.kill_selected()
        wait(app, lambda: not monitor.busy)

        # -- PACS query: patients (masked), a study expanded with its series, one checked -------
        pacs = styled(PacsQueryWidget(ctx), (900, 560))
        pacs.name.setText("*")
        pacs.search()
        wait(app, lambda: not pacs.busy and pacs.tree.topLevelItemCount())
        for i in range(pacs.tree.topLevelItemCount()):
            pacs.tree.topLevelItem(i).setExpanded(True)
        study = next(pacs.tree.topLevelItem(i).child(0)
                     for i in range(pacs.tree.topLevelItemCount())
                     if pacs.tree.topLevelItem(i).child(0).text(0) == "MRI head")
        study.setExpanded(True)
        wait(app, lambda: not pacs.busy and study.childCount() == 2)
        study.child(0).setCheckState(0, Qt.CheckState.Checked)
        for c in range(pacs.tree.columnCount()):
            pacs.tree.resizeColumnToContents(c)
        shot(app, pacs, "desktop-pacs-query.png")
        monitor.timer.stop()
        for w in (tool, monitor, pacs):
            wait(app, lambda w=w: not w.busy)
            w.close()
        archive.dispose()
    finally:
        orthanc.stop()


if __name__ == "__main__":
    main()
