"""Launch from the batch tool on the selection (local executor) and follow the jobs in the
job monitor: states and colours, finished jobs hidden, OUT files registered, a failing job with
its log, re-run of the failed jobs after the data was fixed, kill."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from napari_nora.widgets.batch_tool import BatchToolWidget
from tests.batch.batch_helpers import task_process_gone
from napari_nora.widgets.job_monitor import STATE_COLOURS, JobMonitorWidget
from tests.desktop_tools.test_batch_tool import compose

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _states(monitor):
    return {r["subject"]: r["state"] for r in monitor.model.rows}


def _launch(qtbot, idle, tool, monitor):
    launched = []
    tool.context.jobs_changed.connect(launched.append)
    tool.launch()
    idle(tool, timeout=60)
    assert tool.last_launch is not None, tool.status.text()
    assert launched
    return tool.last_launch


def _wait_final(qtbot, monitor, ids, timeout=90):
    def final():
        rows = {r["id"]: r for r in monitor.model.rows}
        return all(i in rows and rows[i]["state"] in ("done", "error", "cancelled")
                   for i in ids)
    monitor.show_done.setChecked(True)
    qtbot.waitUntil(final, timeout=timeout * 1000)


def test_launch_on_selection_runs_and_registers_outputs(qtbot, idle, make_context):
    ctx = make_context()
    ctx.selection = ["P001#S1", "P002#S1"]
    tool = compose(qtbot, BatchToolWidget(ctx))
    monitor = JobMonitorWidget(ctx, interval_s=0.3)
    qtbot.addWidget(tool)
    qtbot.addWidget(monitor)
    assert tool.launch_button.text() == "Launch on 2 subjects"
    monitor.show_done.setChecked(True)
    res = _launch(qtbot, idle, tool, monitor)
    qtbot.waitUntil(lambda: {r["id"] for r in monitor.model.rows} >= set(res.job_ids),
                    timeout=20000)  # the monitor follows the launch
    _wait_final(qtbot, monitor, res.job_ids)
    assert _states(monitor) == {"P001": "done", "P002": "done"}
    outs = ctx.session.select_files("demo", "derived/t1cat.nii", with_tags=True)
    assert sorted(f.subject for f in outs) == ["P001", "P002"]
    assert all("cat" in f.tags for f in outs)
    p001 = next(f for f in outs if f.subject == "P001")
    assert p001.abspath.read_bytes() == b"t1_trio_mprage/s001.niit1_trio_mprage/s002.nii"
    monitor.show_done.setChecked(False)  # finished jobs leave the default view
    qtbot.waitUntil(lambda: not monitor.model.rows, timeout=10000)
    idle(tool, monitor)


@SQLITE
def test_failing_job_shows_error_with_log_and_reruns_after_fix(qtbot, idle, make_context,
                                                                demo, tmp_path):
    ctx = make_context()
    ctx.selection = ["P003#S1"]  # P003 has no t1_trio file: the job fails
    tool = compose(qtbot, BatchToolWidget(ctx))
    monitor = JobMonitorWidget(ctx, interval_s=0.3)
    qtbot.addWidget(tool)
    qtbot.addWidget(monitor)
    (job_id,) = _launch(qtbot, idle, tool, monitor).job_ids
    qtbot.waitUntil(lambda: _states(monitor).get("P003") == "error", timeout=90000)
    row = monitor.proxy.mapFromSource(monitor.model.index(0, 1))
    assert monitor.proxy.data(row, 8).name() == STATE_COLOURS["error"]  # BackgroundRole
    monitor.search.setText("P003")
    assert monitor.proxy.rowCount() == 1
    monitor.search.setText("nothing like this")
    assert monitor.proxy.rowCount() == 0
    monitor.search.setText("")
    monitor.select_jobs([job_id])
    qtbot.waitUntil(lambda: "matched no file" in monitor.log_view.toPlainText(), timeout=10000)
    qtbot.waitUntil(lambda: '"batch_name": "concat t1"' in monitor.json_view.toPlainText(),
                    timeout=10000)
    assert '"code": "cat $f1 > $o1"' in monitor.json_view.toPlainText()

    src = tmp_path / "fix.nii"
    src.write_bytes(b"fixed")
    demo.session("admin").add_file("demo", src, "P003#S1", "t1_trio_fix/s099.nii")
    monitor.rerun_failed()
    idle(monitor)
    assert "re-launched 1 job(s)" in monitor.message.text()
    qtbot.waitUntil(lambda: sorted(_states_all(monitor)) == ["done", "error"], timeout=90000)
    (out,) = ctx.session.select_files("demo", "derived/t1cat.nii")
    assert out.subject == "P003" and out.abspath.read_bytes() == b"fixed"
    idle(tool, monitor)


def _states_all(monitor):
    monitor.show_done.setChecked(True)
    return [r["state"] for r in monitor.model.rows]


@SQLITE
def test_kill_a_running_job(qtbot, idle, make_context):
    ctx = make_context()
    ctx.selection = ["P001#S1"]
    tool = compose(qtbot, BatchToolWidget(ctx), code="sleep 60; cat $f1 > $o1")
    monitor = JobMonitorWidget(ctx, interval_s=0.3)
    qtbot.addWidget(tool)
    qtbot.addWidget(monitor)
    (job_id,) = _launch(qtbot, idle, tool, monitor).job_ids
    qtbot.waitUntil(lambda: _states(monitor).get("P001") == "running", timeout=60000)
    monitor.select_jobs([job_id])
    monitor.kill_selected()
    qtbot.waitUntil(lambda: _states(monitor).get("P001") == "cancelled", timeout=30000)
    assert "cancelled 1 job(s)" in monitor.message.text()
    (row,) = [r for r in monitor.model.rows if r["id"] == job_id]
    assert task_process_gone(SimpleNamespace(**row))  # the task process was stopped
    assert not ctx.session.select_files("demo", "derived/t1cat.nii")
    idle(tool, monitor)


@SQLITE
def test_a_hidden_monitor_follows_active_jobs_only(qtbot, idle, make_context, monkeypatch):
    """In a tab not shown it refreshes once (jobs may be running) and then asks nothing while
    no job is queued or running; after a launch elsewhere it follows the jobs until they end
    (the subject table's markers follow them from any tab) and stops; shown, it polls."""
    from qtpy.QtWidgets import QTabWidget, QWidget

    from napari_nora.widgets import job_control as jc

    calls, refresh = [], jc.refresh
    monkeypatch.setattr(jc, "refresh", lambda *a, **k: calls.append(1) or refresh(*a, **k))
    ctx = make_context()
    ctx.selection = ["P001#S1"]
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QWidget(), "Browser")
    monitor = JobMonitorWidget(ctx, interval_s=0.25)
    tabs.addTab(monitor, "Jobs")
    tabs.show()
    qtbot.waitExposed(tabs)
    qtbot.waitUntil(lambda: len(calls) == 1)
    idle(monitor)
    qtbot.wait(1000)
    assert len(calls) == 1
    tool = compose(qtbot, BatchToolWidget(ctx), code="sleep 2; cat $f1 > $o1")
    qtbot.addWidget(tool)
    (job_id,) = _launch(qtbot, idle, tool, monitor).job_ids

    def state():
        return {r["id"]: r["state"] for r in refresh(ctx, "demo", include_done=True,
                                                      query=False).rows}[job_id]
    qtbot.waitUntil(lambda: state() == "done", timeout=60000)  # only the monitor refreshes
    assert len(calls) >= 3
    qtbot.waitUntil(lambda: not monitor._following)
    idle(monitor)
    seen = len(calls)
    qtbot.wait(1000)
    assert len(calls) == seen
    tabs.setCurrentWidget(monitor)
    qtbot.waitUntil(lambda: len(calls) >= seen + 3, timeout=10000)
    tabs.setCurrentIndex(0)
    idle(monitor)
    seen = len(calls)
    qtbot.wait(1000)
    assert len(calls) == seen
