"""The thread tasks of the desktop tools: a tool closed while its work runs is not called
back."""

from __future__ import annotations

import threading

from qtpy.QtCore import QCoreApplication, QEvent
from qtpy.QtWidgets import QWidget

from napari_nora.widgets.desktop_tasks import Tasks


def test_a_deleted_tool_gets_neither_result_nor_error(qtbot):
    tool = QWidget()
    tasks = Tasks(parent=tool)
    go, called = threading.Event(), []

    def fail():
        go.wait(10)
        raise ValueError("too late")

    tasks.run(go.wait, 10, done=called.append)
    tasks.run(fail, error=called.append)
    tasks.run(go.wait, 10, done=called.append, channel="c")
    tasks.run(go.wait, 10, done=called.append, channel="c", keep=True)  # waits: never starts
    tool.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    go.set()
    qtbot.waitUntil(lambda: not tasks.busy, timeout=10000)
    qtbot.wait(100)
    assert called == []
