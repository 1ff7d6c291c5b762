"""What the NORA desktop widgets share: the archive session, the current project, the selection.

The browser, autoloader, upload, batch tool, job monitor and PACS query widgets never talk to
each other directly: each holds the same :class:`DesktopContext`, reads its attributes and
reacts to its signals (one-way state, STYLE.md 3). The archive is reached only through
``context.session`` (the client interface of DESIGN.md, an
:class:`nora_server.archive.session.ArchiveSession`), batches and jobs only through
``context.batch`` (a :class:`nora_server.batch.client.BatchClient`)::

    ctx = DesktopContext.connect()                 # nora.toml from $NORA_CONFIG, user $NORA_USER
    ctx.project_changed.connect(table.reload)
    ctx.project = "demo"                           # emits project_changed("demo")
    ctx.selection = ["P001#S1", "P002#S1"]         # emits selection_changed([...])
    ctx.layers_opened.emit(layers, {"project": "demo", "ref": "P001#S1", "path": "t1/s1.nii"})

Layers opened from the archive carry ``layer.metadata["nora_archive"]`` =
``{"project", "ref" ("PID#SID"), "path" (relative to the study folder), "config" (the
nora.toml path, or None for the default), "user"}`` (see :meth:`DesktopContext.origin`);
tools that save results next to their source (the ROI tool) read it and reach the archive with
``nora_server.archive.connect(origin["config"], origin["user"])``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from psygnal import Signal

#: key of ``layer.metadata`` that says where a layer came from in the archive
ARCHIVE_KEY = "nora_archive"


class DesktopContext:
    """The archive session plus the desktop's current project and selection.

    Parameters
    ----------
    session : ArchiveSession
        The user's view of the archive; every call checks the user's rights.
    settings : nora_server.config.Settings, optional
        The site configuration (``settings.sections`` holds ``[dicom]``, ``[pacs.*]``,
        ``[batch]``), for the PACS and batch widgets.
    viewer : napari.Viewer, optional
        The viewer files are opened into.
    """

    project_changed = Signal(object)  # new project name (str) or None
    selection_changed = Signal(list)  # refs of the selected rows: "PID#SID" (or "PID")
    archive_changed = Signal(str)  # a project's contents changed (upload, import, pull, tags)
    jobs_changed = Signal(str)  # jobs of a project were launched, killed or refreshed
    layers_opened = Signal(list, dict)  # layers opened from the archive, and their origin
    tags_changed = Signal(list)  # refs ("PID#SID" or "PID") whose tags changed (QC, context menu)

    def __init__(self, session, settings=None, *, viewer=None):
        self.session = session
        self.settings = settings
        self.viewer = viewer
        self._project: str | None = None
        self._selection: list[str] = []
        #: the subject/study table's visible order, set by the browser: an object with
        #: ``neighbour(ref, step) -> ref | None`` (see :meth:`neighbour`)
        self.order = None
        self._batch = None
        self._batch_lock = threading.Lock()

    @classmethod
    def connect(cls, config: str | os.PathLike | None = None, user: str | None = None, *,
                viewer=None) -> DesktopContext:
        """Open the archive of ``nora.toml`` (``config``, else ``$NORA_CONFIG`` or the user's
        config folder) as ``user`` (else ``$NORA_USER`` or the login name)."""
        from nora_server.archive.core import Archive
        from nora_server.config import load_settings

        settings = load_settings(config)
        return cls(Archive.from_settings(settings).session(user), settings, viewer=viewer)

    @property
    def batch(self):
        """The :class:`nora_server.batch.client.BatchClient` of this session and site (opened
        on first use, from any thread): the batch tool's and job monitor's only way to the
        saved batches, the job table and the schedulers."""
        with self._batch_lock:
            if self._batch is None:
                from nora_server.batch.client import BatchClient

                self._batch = BatchClient(self.session, self.settings)
            return self._batch

    # -- current project ---------------------------------------------------------------
    @property
    def project(self) -> str | None:
        return self._project

    @project.setter
    def project(self, name: str | None) -> None:
        if name == self._project:
            return
        if name is not None:
            self.session.role(name)  # raises NotFound for a project the user may not see
        self._project = name
        self._selection = []
        self.project_changed.emit(name)
        self.selection_changed.emit([])

    def projects(self) -> list[str]:
        """Names of the projects this user may see."""
        return [p.name for p in self.session.projects()]

    def can(self, action: str) -> bool:
        """Whether the user may do ``action`` ("read", "identity", "write", "manage") on the project."""
        from nora_server.archive.rights import allowed

        return self._project is not None and allowed(self.session.role(self._project), action)

    # -- selection in the subject/study table --------------------------------------------
    @property
    def selection(self) -> list[str]:
        return list(self._selection)

    @selection.setter
    def selection(self, refs) -> None:
        refs = list(refs)
        if refs == self._selection:
            return
        self._selection = refs
        self.selection_changed.emit(list(refs))

    def neighbour(self, ref: str | None, step: int = 1) -> str | None:
        """The study ``step`` rows after ``ref`` in the browser's filtered, sorted table (before
        it when ``step`` is negative); None at either end or without a table."""
        return self.order.neighbour(ref, step) if self.order is not None else None

    def origin(self, ref: str, path: str) -> dict:
        """The ``layer.metadata["nora_archive"]`` entry for a file of this project."""
        config = getattr(self.settings, "path", None)
        return {"project": self._project, "ref": ref, "path": path,
                "config": str(config) if config else None, "user": self.session.user}

    @property
    def storage(self) -> Path:
        return self.session.archive.storage


def watch(owner, signal, slot) -> None:
    """Connect ``slot`` to a context ``signal`` (psygnal) for as long as the widget ``owner``
    lives: a tool closed on a context that outlives it is not called any more."""
    signal.connect(slot)
    owner.destroyed.connect(lambda *_: signal.disconnect(slot, missing_ok=True))
