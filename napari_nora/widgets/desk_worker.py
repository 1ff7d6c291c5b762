"""Slow work of the desktop tools in napari thread workers, results back in the GUI thread.

One call, :func:`run_worker`, runs ``fn(*args, **kwargs)`` in a :mod:`napari.qt.threading`
worker. Errors a user can act on (a PACS that does not answer, a batch with a bad pattern)
come back to ``failed(exc)`` instead of napari's error notification; ``progress(stage, done,
total)`` is delivered in the GUI thread while the work runs. The owner keeps the running
workers, so a widget (and a test) can tell whether it is still busy::

    run_worker(self, find, node, done=self._show, failed=self._error, progress=self._bar)

A widget that closes while its worker runs is not called back; :func:`watch` connects a
widget to a signal of the shared context until the widget is destroyed.
"""

from __future__ import annotations

import logging

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Signal

log = logging.getLogger(__name__)


def deleted(obj) -> bool:
    """True once the Qt object behind ``obj`` is gone (the widget was closed and deleted)."""
    try:
        from qtpy import sip

        return sip.isdeleted(obj)
    except ImportError:  # PySide
        import shiboken6

        return not shiboken6.isValid(obj)


def watch(owner, signal, slot) -> None:
    """Connect ``slot`` to a context ``signal`` (psygnal) for as long as ``owner`` lives."""
    signal.connect(slot)
    owner.destroyed.connect(lambda *_: signal.disconnect(slot, missing_ok=True))


class ProgressRelay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued signal)."""

    changed = Signal(str, int, int)  # stage, done, total (0: not known yet)

    def __call__(self, stage: str, done, total) -> None:
        self.changed.emit(str(stage), int(done or 0), int(total or 0))


def running(owner) -> set:
    """The workers ``owner`` has running (created on first use)."""
    if not hasattr(owner, "_desk_workers"):
        owner._desk_workers = set()
    return owner._desk_workers


def run_worker(owner, fn, *args, done=None, failed=None, progress=None, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a thread worker; call ``done(result)`` or
    ``failed(exception)`` in the GUI thread. With ``progress`` (a bound method of a QObject),
    ``fn`` receives ``progress=`` a callable ``(stage, done, total)`` safe to call from the
    worker thread."""
    relay = None
    if progress is not None:
        relay = ProgressRelay()
        relay.changed.connect(progress)
        kwargs["progress"] = relay

    def call():
        try:
            return True, fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to ``failed`` in the GUI thread
            log.debug("worker %s failed", getattr(fn, "__name__", fn), exc_info=True)
            return False, exc

    worker = create_worker(call, _ignore_errors=True)
    worker._relay = relay  # keep the relay alive as long as the worker
    workers = running(owner)
    workers.add(worker)

    def finish(outcome):
        if deleted(owner):
            return
        ok, value = outcome
        handler = done if ok else failed
        if handler is not None:
            handler(value)
        elif not ok:
            log.error("%s", value)

    worker.returned.connect(finish)
    worker.finished.connect(lambda: workers.discard(worker))
    worker.start()
    return worker
