"""Opening archive files in the viewer: read off the GUI thread, add as background, overlay or
ROI, and remember where each layer came from.

``read_file`` runs in a thread worker (the whole volume is read, memory-mapped files included,
so the GUI thread never waits on the disk); ``add_layers`` runs on the GUI thread. Every layer
gets ``layer.metadata["nora_archive"] = context.origin(ref, path)``, which the ROI tool reads to
save its ROIs back next to their source. :class:`CanvasDrops` lets files (and studies) dragged
from the desktop be dropped on the canvas, with a small menu: background, overlay or ROI.
"""

from __future__ import annotations

import json
import mmap

import numpy as np
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QMenu

from napari_nora.widgets.desktop_context import ARCHIVE_KEY
from napari_nora.widgets.desktop_table import FILE_MIME, STUDY_MIME

ROLES = {"background": "Drop as background", "overlay": "Drop as overlay", "roi": "Drop as ROI"}
#: file kinds the viewer opens (the archive's kinds, see nora_server.archive.names)
VIEWABLE = ("nifti", "mgh", "nrrd", "gifti", "stl", "dicom")


def materialize(data):
    """A memory-mapped array read into memory (the worker pays the disk, not the GUI)."""
    base = data
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return np.array(data)
        base = getattr(base, "base", None)
    return data


def read_file(path) -> list:
    """Layer data of one file with every voxel in memory (call it in a worker)."""
    from napari_nora.readers import read

    return [(materialize(data), kwargs, kind) for data, kwargs, kind in read(path)]


def _as_roi(data, kwargs):
    keep = ("name", "scale", "translate", "metadata", "axis_labels", "units")
    mask = np.ascontiguousarray(np.asarray(data) != 0).view(np.uint8)
    return mask, {k: v for k, v in kwargs.items() if k in keep} | {"opacity": 0.5}, "labels"


def _styled(viewer, layer_data: list, role: str) -> list:
    from napari_nora.viewer_hook import OVERLAY_COLORMAPS, prepare_viewer

    if role == "auto":
        return prepare_viewer(viewer, layer_data)
    prepare_viewer(viewer, [])  # orientation and keys only
    out = []
    n_images = sum(layer.__class__.__name__ == "Image" for layer in viewer.layers)
    for data, kwargs, kind in layer_data:
        kwargs = dict(kwargs)
        if role == "roi" and kind in ("image", "labels"):
            data, kwargs, kind = _as_roi(data, kwargs)
        elif kind == "image" and not kwargs.get("rgb"):
            if role == "background":
                kwargs.update(colormap="gray", opacity=1.0, blending="translucent")
            else:
                kwargs.update(colormap=OVERLAY_COLORMAPS[max(n_images - 1, 0)
                                                         % len(OVERLAY_COLORMAPS)],
                              opacity=0.5, blending="additive")
                n_images += 1
        out.append((data, kwargs, kind))
    return out


def add_layers(viewer, layer_data: list, origin: dict, role: str = "auto") -> list:
    """Add read layers to ``viewer`` as ``role``: ``auto`` (the first image is the background,
    later ones overlays), ``background`` (grey, below everything), ``overlay`` (coloured, on
    top) or ``roi`` (a uint8 label layer the ROI tool edits)."""
    from napari.layers import Layer

    layers = []
    for data, kwargs, kind in _styled(viewer, layer_data, role):
        kwargs = dict(kwargs)
        kwargs["metadata"] = {**(kwargs.get("metadata") or {}), ARCHIVE_KEY: dict(origin)}
        layer = Layer.create(data, kwargs, kind)
        if role == "background":
            viewer.layers.insert(0, layer)
        else:
            viewer.add_layer(layer)
        if role == "roi" and kind == "labels" and layer.ndim == 3:
            from napari_nora.widgets.roi_layers import adopt_roi

            adopt_roi(viewer, layer)
        layers.append(layer)
    return layers


class ArchiveOpener:
    """Opens files of the context's project in its viewer, through the widget's tasks."""

    def __init__(self, context, tasks):
        self.context, self.tasks = context, tasks

    def open_files(self, files: list[dict], role: str = "auto", *, done=None) -> None:
        """``files``: dicts with ``ref``, ``path`` (study-relative) and ``location`` (absolute)."""
        files = [f for f in files if f.get("location")]
        if not files or self.context.viewer is None:
            return
        origins = [self.context.origin(f["ref"], f["path"]) for f in files]

        def work():
            return [read_file(f["location"]) for f in files]

        def show(results):
            viewer = self.context.viewer
            opened = []
            for origin, layer_data in zip(origins, results):
                layers = add_layers(viewer, layer_data, origin, role)
                self.context.layers_opened.emit(layers, origin)
                opened += layers
            if done is not None:
                done(opened)

        self.tasks.run(work, done=show)

    def open_studies(self, refs: list[str], pattern: str, role: str = "auto", *,
                     done=None) -> None:
        """The files of studies ``refs`` matching ``pattern`` (viewable kinds only)."""
        session, project = self.context.session, self.context.project

        def resolve():
            out = []
            for ref in refs:
                out += [{"ref": f.ref, "path": f.path, "location": f.location}
                        for f in session.select_files(project, pattern or "*", ref=ref)
                        if f.kind in VIEWABLE]
            return out

        self.tasks.run(resolve, done=lambda files: self.open_files(files, role, done=done))


class CanvasDrops(QObject):
    """Event filter on napari's canvas widget: accepts desktop drags, asks for the role."""

    def __init__(self, opener: ArchiveOpener, pattern=lambda: "*", parent=None):
        super().__init__(parent)
        self.opener, self.pattern = opener, pattern

    def choose(self, global_pos) -> str | None:
        """The role picked from the drop menu (tests replace this)."""
        menu = QMenu()
        actions = {menu.addAction(text): role for role, text in ROLES.items()}
        picked = menu.exec(global_pos)
        return actions.get(picked)

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            mime = event.mimeData()
            if not (mime.hasFormat(FILE_MIME) or mime.hasFormat(STUDY_MIME)):
                return False
            event.acceptProposedAction()
            if kind == QEvent.Type.Drop:
                pos = obj.mapToGlobal(event.position().toPoint())
                self.drop(mime, self.choose(pos))
            return True
        return False

    def drop(self, mime, role: str | None) -> None:
        if role is None:
            return
        if mime.hasFormat(FILE_MIME):
            payload = json.loads(bytes(mime.data(FILE_MIME)).decode())
            self.opener.open_files(payload["files"], role)
        else:
            payload = json.loads(bytes(mime.data(STUDY_MIME)).decode())
            self.opener.open_studies(payload["refs"], self.pattern(), role)


def install_drops(viewer, drops: CanvasDrops) -> None:
    """Let the viewer's canvas (and the workspace's extra views) take desktop drops."""
    widgets = [viewer.window._qt_viewer]
    ctl = getattr(viewer, "_nora_workspace", None)
    for view in getattr(ctl, "views", [])[1:]:
        widgets.append(view.qt_viewer)
    for w in widgets:
        w.setAcceptDrops(True)
        w.installEventFilter(drops)
