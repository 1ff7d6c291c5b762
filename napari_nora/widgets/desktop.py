"""NORA's desktop as one napari dock: a project selector and the desktop's tools as tabs.

Every tab is built by a factory ``factory(context)`` from :data:`TABS` and shares one
:class:`~napari_nora.widgets.desktop_context.DesktopContext` (the archive session, the current
project and selection). Adding a tool is one line in :data:`TABS`.
"""

from __future__ import annotations

import importlib
import logging

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout,
                            QWidget)

from napari_nora.widgets.desktop_context import DesktopContext
from napari_nora.widgets.qt_helpers import dock_of, scrolled, share_column
from napari_nora.widgets.workspace_links import unwrap

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

#: (tab title, "module:factory"); each factory is called with the shared context
TABS = [
    ("Browser", "napari_nora.widgets.desktop_browser:BrowserWidget"),
    ("Autoloader", "napari_nora.widgets.desktop_autoload:AutoloaderWidget"),
    ("Upload", "napari_nora.widgets.desktop_upload:UploadWidget"),
    ("Batch", "napari_nora.widgets.batch_tool:BatchToolWidget"),
    ("Jobs", "napari_nora.widgets.job_monitor:JobMonitorWidget"),
    ("PACS", "napari_nora.widgets.pacs_query:PacsQueryWidget"),
]


def _factory(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class DesktopWidget(QWidget):
    """The NORA desktop dock (``napari-nora.desktop`` in the manifest).

    Parameters
    ----------
    viewer : napari.Viewer
        Files open into it.
    context : DesktopContext, optional
        The archive session to use; default: ``nora.toml`` (``$NORA_CONFIG``) and
        ``$NORA_USER``; without a ``nora.toml`` the embedded default archive with the demo
        project is created first (:func:`nora_server.demo.ensure_demo`).
    project : str, optional
        Project selected first (default: the first the user may see).
    """

    def __init__(self, viewer: napari.viewer.Viewer = None, context: DesktopContext | None = None,
                 project: str | None = None, parent=None):
        super().__init__(parent)
        viewer = unwrap(viewer)  # napari's menu passes a public proxy
        if context is None:
            from nora_server.demo import ensure_demo

            context = DesktopContext.connect(ensure_demo().path, viewer=viewer)
        self.context = context
        if self.context.viewer is None:
            self.context.viewer = viewer
        self.projects = QComboBox()
        self.projects.setToolTip("Projects you have a role on")
        self.tabs = QTabWidget()
        self.tools: dict[str, QWidget] = {}
        from nora_server.config import ConfigError

        for title, spec in TABS:
            try:
                widget = _factory(spec)(self.context)
            except ConfigError as exc:  # a wrong nora.toml section: said there, the rest works
                widget = QLabel(f"{title} is not available: {exc}")
                widget.setWordWrap(True)
                widget.setAlignment(Qt.AlignmentFlag.AlignTop)
            else:
                self.tools[title] = widget
            self.tabs.addTab(scrolled(widget), title)
        row = QHBoxLayout()
        row.addWidget(QLabel("Project"))
        row.addWidget(self.projects, 1)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addWidget(self.tabs, 1)
        self.context.project_changed.connect(self._on_project_changed)
        self.projects.currentTextChanged.connect(self._on_combo)
        self.refresh_projects(project)

    def refresh_projects(self, select: str | None = None) -> None:
        """Fill the selector with the projects the user may see and select one."""
        names = self.context.projects()
        self.projects.blockSignals(True)
        self.projects.clear()
        self.projects.addItems(names)
        self.projects.blockSignals(False)
        wanted = select or self.context.project or (names[0] if names else None)
        if wanted in names:
            self.projects.setCurrentText(wanted)
            self.context.project = wanted
        elif names:
            self.context.project = names[0]

    def _on_combo(self, name: str) -> None:
        if name:
            self.context.project = name

    def _on_project_changed(self, name) -> None:
        if name is not None and self.projects.currentText() != name:
            self.projects.blockSignals(True)
            self.projects.setCurrentText(name)
            self.projects.blockSignals(False)

    def wait(self, timeout_ms: int = 30_000) -> None:
        """Wait until every tab's work finished, also what one tab's result starts in another
        (a pull reloads the table) (tests, scripts)."""
        tasks = [w.tasks for w in self.tools.values() if hasattr(w, "tasks")]
        while any(t.busy for t in tasks):
            for t in tasks:
                t.wait(timeout_ms)

    def open_first(self, pattern: str = "t1*/*.nii*") -> None:
        """Once the table is loaded, select its first study and open its files matching
        ``pattern`` (what ``napari-nora`` shows on start)."""
        browser = self.tools["Browser"]

        def first():
            browser.model.view_changed.disconnect(first)
            ref = self.context.neighbour(None, +1)
            if ref is not None:
                self.context.selection = [ref]
                browser.opener.open_studies([ref], pattern)

        browser.model.view_changed.connect(first)


def add_desktop(viewer, *, open_first: bool = False, create: bool = True):
    """Dock the desktop on ``viewer``: on ``nora.toml`` (``$NORA_CONFIG``), or, when there is
    none and ``create`` is true, on the embedded default archive created with the demo project
    (filled through the DICOM import pipeline, :mod:`nora_server.demo`). Returns the widget, or
    None (with a warning when the archive cannot be opened)."""
    from nora_server.demo import PROJECT, ensure_demo

    try:
        settings = ensure_demo(create=create)
        if settings is None:
            return None
        context = DesktopContext.connect(settings.path, viewer=viewer)
        widget = DesktopWidget(viewer, context, PROJECT if PROJECT in context.projects()
                               else None)
    except Exception as exc:  # noqa: BLE001 - napari opens anyway; the message says why
        log.warning("NORA desktop not opened: %s", exc)
        return None
    viewer.window.add_dock_widget(widget, name="NORA desktop", area="right")
    if open_first:
        widget.open_first()
    return widget


def size_window(viewer, desktop) -> None:
    """napari's window leaves the views a sliver between its docks and the desktop, and the
    desktop a few rows below the workspace. On a first start (no window size saved) the window
    takes 90% of the screen; a saved size larger than the screen shrinks to it. On every start
    where napari does not restore the user's own docks (its default), the desktop gets a third
    of the window's width and two thirds of its column's height (the workspace and display
    settings below)."""
    from napari.settings import get_settings

    app = get_settings().application
    window = viewer.window._qt_window
    area = window.screen().availableGeometry()
    if app.window_size is None:
        window.resize(int(area.width() * 0.9), int(area.height() * 0.9))
    else:  # a saved size larger than this screen (another screen, a window docks once grew)
        frame = window.frameGeometry()
        window.resize(min(window.width(), area.width() - (frame.width() - window.width())),
                      min(window.height(), area.height() - (frame.height() - window.height())))
    if app.window_size is not None and app.save_window_state and app.window_state:
        return  # napari puts the docks back where the user left them
    dock = dock_of(desktop)
    if dock is not None:
        window.resizeDocks([dock], [window.width() // 3], Qt.Orientation.Horizontal)
        QTimer.singleShot(0, lambda: share_column(window, dock, 2 / 3))  # once it is laid out
