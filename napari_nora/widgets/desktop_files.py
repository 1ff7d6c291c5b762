"""The file tree of one study: series folders and their files, with size and tags.

Double-click opens a file in the viewer; files drag onto the canvas (background, overlay or
ROI). The listing is one indexed query (``select_files`` of the study), never a disk walk.
"""

from __future__ import annotations

import json

from qtpy.QtCore import QMimeData, Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem

from napari_nora.widgets.desktop_table import FILE_MIME

FILE_ROLE = Qt.ItemDataRole.UserRole


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class FileTree(QTreeWidget):
    """Files of one study (a list of ``FileInfo``), grouped by series folder."""

    file_activated = Signal(dict)  # {"ref", "path", "location", "kind"} of a double-clicked file

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["File", "Size", "Tags"])
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setUniformRowHeights(True)
        self.project: str | None = None
        self.ref: str | None = None
        self.itemDoubleClicked.connect(self._on_double_clicked)

    def show_files(self, project: str | None, ref: str | None, files) -> None:
        self.clear()
        self.project, self.ref = project, ref
        folders: dict[str, QTreeWidgetItem] = {}
        for f in files:
            series, _, name = f.path.rpartition("/")
            parent = self.invisibleRootItem()
            if series:
                parent = folders.get(series)
                if parent is None:
                    parent = folders[series] = QTreeWidgetItem(self, [series + "/", "", ""])
                    parent.setExpanded(True)
            item = QTreeWidgetItem(parent, [name, human_size(f.size), ", ".join(f.tags)])
            item.setData(0, FILE_ROLE, {"ref": f.ref, "path": f.path, "location": f.location,
                                        "kind": f.kind})
            item.setToolTip(0, f.location)
        self.resizeColumnToContents(0)

    def file_items(self) -> list[QTreeWidgetItem]:
        out = []
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            if top.data(0, FILE_ROLE):
                out.append(top)
            out += [top.child(k) for k in range(top.childCount())]
        return out

    def item_for(self, path: str) -> QTreeWidgetItem | None:
        return next((it for it in self.file_items() if it.data(0, FILE_ROLE)["path"] == path),
                    None)

    def _on_double_clicked(self, item, column) -> None:
        info = item.data(0, FILE_ROLE)
        if info:
            self.file_activated.emit(dict(info))

    # -- drag ------------------------------------------------------------------------------
    def mimeTypes(self):
        return [FILE_MIME]

    def mimeData(self, items):
        files = [it.data(0, FILE_ROLE) for it in items if it.data(0, FILE_ROLE)]
        for it in items:  # a series folder drags all of its files
            if not it.data(0, FILE_ROLE):
                files += [it.child(k).data(0, FILE_ROLE) for k in range(it.childCount())]
        mime = QMimeData()
        mime.setData(FILE_MIME, json.dumps({"project": self.project, "files": files}).encode())
        return mime
