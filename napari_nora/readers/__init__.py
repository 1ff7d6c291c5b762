"""Readers for medical formats; the npe2 reader contribution is :func:`get_reader`.

Scripting use: ``read(path)`` returns napari layer data tuples ``(data, kwargs, layer_type)``
with the RAS-mm transform in ``kwargs`` (``scale``/``translate``) and the source grid in
``kwargs['metadata']``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from napari_nora.readers.registry import FORMATS, Format, NoraReadError, format_for

__all__ = ["FORMATS", "Format", "NoraReadError", "format_for", "get_reader", "read"]


def read(path, *, stream: bool = False) -> list:
    """Read one path (file, folder or zip) into napari layer data tuples.

    Raises
    ------
    NoraReadError
        When the path is not a supported format, or is corrupt; the message names the file.

    ``stream=True`` lets a reader return before a large file has fully arrived (see
    :mod:`napari_nora.readers.streamed`); napari's reader uses it.
    """
    fmt = format_for(path)
    if fmt is None:
        raise NoraReadError(f"{path}: not a file format napari-nora reads")
    try:
        fn = fmt.reader()
        if stream and "stream" in inspect.signature(fn).parameters:
            layers = fn(str(path), stream=True)
        else:
            layers = fn(str(path))
    except NoraReadError:
        raise
    except Exception as exc:  # a library's error, re-said with the file and format
        raise NoraReadError(f"{path}: cannot read as {fmt.name}: {exc}") from exc
    if not layers:
        raise NoraReadError(f"{path}: no image found in this {fmt.name} input")
    return layers


def _read_paths(paths):
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out = []
    for p in paths:
        out.extend(read(p, stream=True))
    return out


def get_reader(path):
    """npe2 ``get_reader``: a reader function when napari-nora can read ``path``, else None.

    Sniffs only a few bytes; never raises.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    try:
        if not paths or any(format_for(p) is None for p in paths):
            return None
    except Exception:  # noqa: BLE001 - get_reader must never raise
        return None
    from napari_nora.viewer_hook import with_view_conventions

    return with_view_conventions(_read_paths)
