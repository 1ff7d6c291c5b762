"""Slow work off the GUI thread: napari thread workers with a progress bar, the latest
request winning.

Every call of the desktop's tabs that can take long (the 100k-row table, a filter, a file
listing, reading volumes, an upload or import, a batch launch, a job table refresh, a C-FIND or
a pull) runs through :class:`Tasks`: the function runs in a napari thread worker, the widget's
progress bar shows it, and the result (or the error, for the widget to say) comes back on the
GUI thread. A task of a ``channel`` (e.g. ``"filter"``) that is started while an older one of
the same channel still runs replaces it: the older result is dropped, and at most one further
request waits, so typing fast never queues a query per key. With ``queue=True`` the tasks of a
channel run one after the other, each with its own result (QC clicks on one study); with
``keep=True`` the running task's result is still delivered and the newer request waits,
replacing one that already waits (a poll that must not starve when it is slower than its
timer). A widget deleted while its tasks run is not called back.
"""

from __future__ import annotations

import logging

from qtpy.QtCore import QObject, Signal

log = logging.getLogger(__name__)


def deleted(obj) -> bool:
    """True once the Qt object behind ``obj`` is gone (its widget was closed and deleted)."""
    try:
        from qtpy import sip

        return sip.isdeleted(obj)
    except ImportError:  # PySide
        import shiboken6

        return not shiboken6.isValid(obj)


class ProgressRelay(QObject):
    """Carries ``progress(done, total, text)`` calls from a worker thread to the GUI thread
    (Qt queues signals emitted in another thread)."""

    changed = Signal(int, int, str)

    def __call__(self, done: int, total: int | None, text: str = "") -> None:
        self.changed.emit(int(done or 0), int(total or 0), str(text))


class Tasks(QObject):
    """Runs functions in thread workers for one widget (the ``parent``, whose children the bar
    and the label are too).

    Parameters
    ----------
    bar : QProgressBar, optional
        Shown (busy, or with a fraction when the task reports progress) while tasks run.
    on_error : callable, optional
        ``on_error(exc)`` on the GUI thread when a task raises (default: log it).
    label : QLabel, optional
        Shows the text of the progress (a stage the busy bar cannot show) instead of the bar;
        emptied when no task runs.
    """

    idle = Signal()  # no task is running any more

    def __init__(self, bar=None, on_error=None, parent=None, label=None):
        super().__init__(parent)
        self.bar = bar
        self.label = label
        self.on_error = on_error or (lambda exc: log.error("%s", exc, exc_info=exc))
        self._running: dict[str, object] = {}  # channel -> worker
        self._waiting: dict[str, list] = {}  # channel -> [(fn, args, kwargs, done, error)]
        self._generation: dict[str, int] = {}
        self._workers: set = set()  # keep references until they finish
        if bar is not None:
            bar.setVisible(False)

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    def relay(self) -> ProgressRelay:
        """A progress callback for a task that updates this widget's bar."""
        relay = ProgressRelay(self)
        relay.changed.connect(self._on_progress)
        return relay

    def run(self, fn, *args, done=None, error=None, channel: str | None = None,
            queue: bool = False, keep: bool = False, **kwargs):
        """Run ``fn(*args, **kwargs)`` in a thread worker; ``done(result)`` / ``error(exc)``
        on the GUI thread. With a ``channel``, a newer request replaces an older one (with
        ``queue``, waits for it; with ``keep``, waits for it replacing a waiting one)."""
        if channel is not None:
            if not (queue or keep):
                self._generation[channel] = self._generation.get(channel, 0) + 1
            if channel in self._running:
                task = (fn, args, kwargs, done, error)
                waiting = self._waiting.setdefault(channel, [])
                waiting[:] = [*waiting, task] if queue else [task]
                return None
        return self._start(fn, args, kwargs, done, error, channel)

    def drop(self, channel: str) -> None:
        """Forget the running and waiting tasks of ``channel``: their results are not delivered
        (what they would answer no longer applies)."""
        self._generation[channel] = self._generation.get(channel, 0) + 1
        self._waiting.pop(channel, None)

    def _start(self, fn, args, kwargs, done, error, channel):
        from napari.qt.threading import create_worker

        gen = self._generation.get(channel) if channel is not None else None
        worker = create_worker(fn, *args, _start_thread=False, _ignore_errors=True, **kwargs)
        self._workers.add(worker)
        if len(self._workers) == 1 and self.bar is not None:
            self.bar.setRange(0, 0)  # busy until a task reports a fraction
            self.bar.setFormat("")
        if channel is not None:
            self._running[channel] = worker

        def current() -> bool:
            return not deleted(self) and (channel is None or gen == self._generation.get(channel))

        def on_returned(result):
            if done is not None and current():
                done(result)

        def on_errored(exc):
            log.debug("task %s failed", getattr(fn, "__qualname__", fn), exc_info=exc)
            if current():
                (error or self.on_error)(exc)

        def on_finished():
            self._workers.discard(worker)
            if deleted(self):
                return
            if channel is not None and self._running.get(channel) is worker:
                del self._running[channel]
                waiting = self._waiting.get(channel)
                if waiting:
                    self._start(*waiting.pop(0), channel)
            self._update_bar()

        worker.returned.connect(on_returned)
        worker.errored.connect(on_errored)
        worker.finished.connect(on_finished)
        self._update_bar()
        worker.start()
        return worker

    def _update_bar(self) -> None:
        if self.bar is not None:
            self.bar.setVisible(bool(self._workers))
        if not self._workers:
            if self.label is not None:
                self.label.setText("")
            self.idle.emit()

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if self.label is not None:
            self.label.setText(text)
        if self.bar is None:
            return
        self.bar.setVisible(True)
        self.bar.setRange(0, total)  # total 0: busy while it is not known
        self.bar.setValue(min(done, total))
        self.bar.setFormat(f"{text}  %p%" if text and self.label is None else "%p%")

    def wait(self, timeout_ms: int = 30_000) -> None:
        """Process events until every task finished (tests, closing)."""
        import time

        from qtpy.QtCore import QCoreApplication

        end = time.monotonic() + timeout_ms / 1000
        while self._workers and time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.002)
        if self._workers:
            raise TimeoutError(f"{len(self._workers)} desktop task(s) still running after "
                               f"{timeout_ms} ms")
