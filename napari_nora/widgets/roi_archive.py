"""Saving an ROI into the archive study its reference image came from (NORA's "save (upload)").

A layer opened from the archive carries ``metadata["nora_archive"]`` (see
:mod:`napari_nora.widgets.desktop_context`): project, study reference ``PID#SID``, path, the
``nora.toml`` and the user. An ROI made on such an image is written as NIfTI on the image's
source grid (matrix and affine, as :func:`napari_nora.widgets.roi_layers.save_roi`) and added to
the same study as ``rois/<ROI name>.nii.gz``, tagged ``roi``, through the archive's client interface
(``nora_server.archive.connect(...).add_file``), imported here lazily. No Qt here: the dock
widget runs :func:`save_to_archive` in a thread worker.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from napari_nora.widgets.desktop_context import ARCHIVE_KEY
from napari_nora.widgets.roi_layers import reference_of

#: study-relative folder the ROIs are saved into, and the file tag they get (``FTAG:roi``)
ROI_FOLDER = "rois"
ROI_TAG = "roi"


class RoiExists(Exception):
    """The archive already holds a file where the ROI would go; saving again needs overwrite."""

    def __init__(self, where: str):
        super().__init__(f"{where} exists already in the archive")
        self.where = where


def origin_of(viewer, layer) -> dict | None:
    """The archive origin of an ROI: its reference image's ``nora_archive`` entry, else the
    ROI's own (an ROI reopened from the archive), else None."""
    ref = reference_of(viewer, layer) if viewer is not None else None
    for source in (ref, layer):
        entry = getattr(source, "metadata", {}).get(ARCHIVE_KEY) if source is not None else None
        if isinstance(entry, dict) and entry.get("project") and "#" in str(entry.get("ref", "")):
            return entry
    return None


def archive_path(name: str) -> str:
    """Study-relative path of an ROI called ``name``: ``rois/<name>.nii.gz`` with characters
    other than letters, digits, ``-``, ``_`` and ``.`` made ``_`` (file patterns stay simple)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "roi"
    if stem.lower().endswith(".nii.gz"):
        stem = stem[:-7]
    return f"{ROI_FOLDER}/{stem[:120]}.nii.gz"


def save_attributes(layer) -> dict:
    """What :func:`napari_nora.writers.write_labels` needs of an ROI layer (taken in the GUI
    thread, so the worker never touches the layer)."""
    return {"metadata": dict(layer.metadata), "scale": np.array(layer.scale),
            "translate": np.array(layer.translate), "name": layer.name}


def exists(session, project: str, ref: str, path: str) -> bool:
    """Whether study ``ref`` of ``project`` holds a file at ``path`` (exactly: file patterns
    would take ``_`` as any character)."""
    return any(f.ref.lower() == ref.lower() and f.path.lower() == path.lower()
               for f in session.select_files(project, path, ref=ref))


def try_save(*args, **kwargs) -> tuple[str, object]:
    """:func:`save_to_archive` for a thread worker: ``("saved", FileInfo)``, or
    ``("refused", error)`` when the archive says no (file exists, no write rights, a bad name),
    so that the widget tells the user without an error traceback; other errors are raised."""
    from nora_server.archive import ArchiveError

    try:
        return "saved", save_to_archive(*args, **kwargs)
    except (RoiExists, ArchiveError) as exc:
        return "refused", exc


def save_to_archive(mask, attributes: dict, origin: dict, path: str, *,
                    overwrite: bool = False, connect=None):
    """Write an ROI as NIfTI on its source grid and add it to the study of ``origin``.

    Parameters
    ----------
    mask : (z, y, x) array
        The ROI on its display grid (a copy: the worker may run while the user draws on).
    attributes : dict
        :func:`save_attributes` of the ROI layer.
    origin : dict
        The ``nora_archive`` entry (project, ref, config, user).
    path : str
        Study-relative destination, e.g. ``rois/lesion.nii.gz``.
    overwrite : bool
        Replace a file already there; without it :class:`RoiExists` is raised and nothing
        changes.
    connect : callable, optional
        ``connect(config, user) -> ArchiveSession``; ``nora_server.archive.connect`` by default.

    Returns
    -------
    FileInfo
        The archive's record of the saved file.

    Raises
    ------
    PermissionDenied
        When the user may not write to the project (the message says which role they have).
    RoiExists
        When the file exists and ``overwrite`` is False.
    """
    own = connect is None
    if own:
        from nora_server.archive import connect
    session = connect(origin.get("config"), origin.get("user"))
    try:
        return _save(session, mask, attributes, origin, path, overwrite)
    finally:
        if own:  # a session opened for this save: close its connections
            session.engine.dispose()


def _save(session, mask, attributes, origin, path, overwrite):
    from nora_server.archive import PermissionDenied
    from nora_server.archive.rights import allowed

    from napari_nora.writers import write_labels

    project, ref = origin["project"], origin["ref"]
    role = session.role(project)
    if not allowed(role, "write"):
        raise PermissionDenied(
            f"user {session.user!r} may not save into project {project!r} (role {role!r}): "
            "ask the project's owner for member rights, or save the ROI as a local file")
    where = f"{project}: {ref}/{path}"
    if not overwrite and exists(session, project, ref, path):
        raise RoiExists(where)
    with tempfile.TemporaryDirectory(prefix="nora-roi-") as tmp:
        local = Path(tmp) / Path(path).name
        write_labels(str(local), np.asarray(mask), attributes)
        return session.add_file(project, local, ref, path, overwrite=overwrite, tags=ROI_TAG)
