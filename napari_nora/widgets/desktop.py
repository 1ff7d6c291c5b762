"""NORA's desktop as one napari dock: a project selector and the desktop's tools as tabs.

Every tab is built by a factory ``factory(context)`` from :data:`TABS` and shares one
:class:`~napari_nora.widgets.desktop_context.DesktopContext` (the archive session, the current
project and selection). Adding a tool is one line in :data:`TABS`.
"""

from __future__ import annotations

import importlib
import logging

from typing import TYPE_CHECKING

from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from napari_nora.widgets.desktop_context import DesktopContext

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

#: (tab title, "module:factory"); each factory is called with the shared context
TABS = [
    ("Browser", "napari_nora.widgets.desktop_browser:BrowserWidget"),
    ("Autoloader", "napari_nora.widgets.desktop_autoload:AutoloaderWidget"),
    ("Upload", "napari_nora.widgets.desktop_upload:UploadWidget"),
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
        The archive session to use; default: ``nora.toml`` and ``$NORA_USER``
        (:meth:`DesktopContext.connect`).
    project : str, optional
        Project selected first (default: the first the user may see).
    """

    def __init__(self, viewer: napari.viewer.Viewer = None, context: DesktopContext | None = None,
                 project: str | None = None, parent=None):
        super().__init__(parent)
        viewer = getattr(viewer, "__wrapped__", viewer)  # napari's menu passes a public proxy
        self.context = context or DesktopContext.connect(viewer=viewer)
        if self.context.viewer is None:
            self.context.viewer = viewer
        self.projects = QComboBox()
        self.projects.setToolTip("Projects you have a role on")
        self.tabs = QTabWidget()
        self.tools: dict[str, QWidget] = {}
        for title, spec in TABS:
            widget = _factory(spec)(self.context)
            self.tools[title] = widget
            self.tabs.addTab(widget, title)
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
        """Wait until every tab's archive work finished (tests, scripts)."""
        for widget in self.tools.values():
            tasks = getattr(widget, "tasks", None)
            if tasks is not None:
                tasks.wait(timeout_ms)
