"""STL meshes (``.stl``, ASCII or binary), with numpy-stl.

* STL stores each triangle's three corners; shared corners are merged (exact duplicates) so
  the Surface layer is an indexed mesh;
* coordinates are RAS mm unless the header (binary) or solid name (ASCII) says
  ``SPACE=LPS`` as 3D Slicer writes it; then x and y are negated.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from stl import Mode
from stl import mesh as stl_mesh

from napari_nora.readers.layers import layer_name, surface_layer
from napari_nora.readers.registry import NoraReadError

_SPACE = re.compile(rb"SPACE\s*=\s*(LPS|RAS)", re.IGNORECASE)


def _mode(path, head: bytes, size: int):
    """Binary when the triangle count matches the file size, else ASCII when it says so."""
    if len(head) >= 84:
        count = int.from_bytes(head[80:84], "little")
        if size == 84 + 50 * count:
            return Mode.BINARY, head[:80]
    if head.lstrip().lower().startswith(b"solid"):
        return Mode.ASCII, head.lstrip().split(b"\n", 1)[0]
    if len(head) < 84:
        raise NoraReadError(f"{path}: too short for an STL file ({size} bytes)")
    count = int.from_bytes(head[80:84], "little")
    raise NoraReadError(f"{path}: binary STL header announces {count} triangles "
                        f"({84 + 50 * count} bytes) but the file has {size} bytes: "
                        "truncated or not an STL file")


def merge_vertices(corners):
    """Indexed mesh from triangle corners.

    Parameters
    ----------
    corners : (n_triangles, 3, 3) array
        The three corner positions of each triangle.

    Returns
    -------
    vertices : (n_vertices, 3) array
        Unique corner positions.
    faces : (n_triangles, 3) int array
        Indices into ``vertices``.
    """
    flat = np.ascontiguousarray(corners.reshape(-1, 3), dtype=np.float32) + np.float32(0)
    keys = flat.view(np.dtype((np.void, flat.itemsize * 3))).ravel()  # -0.0 made +0.0 above
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return flat[first], inverse.reshape(-1, 3)


def read(path) -> list:
    """Read an STL mesh into one Surface layer in RAS mm.

    Parameters
    ----------
    path : str or Path
        ``.stl`` file, ASCII or binary.

    Returns
    -------
    list of (data, kwargs, layer_type)

    Raises
    ------
    NoraReadError
        When the file is truncated, empty or not an STL; the message names the file.
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(1024)
    mode, title = _mode(path, head, p.stat().st_size)
    try:
        m = stl_mesh.Mesh.from_file(str(p), calculate_normals=False, mode=mode)
    except Exception as exc:  # noqa: BLE001 - numpy-stl raises many kinds; re-said
        raise NoraReadError(f"{path}: not a readable STL file: {exc}") from exc
    corners = np.asarray(m.vectors, dtype=np.float32)
    if len(corners) == 0:
        raise NoraReadError(f"{path}: the STL file holds no triangles")
    if not np.all(np.isfinite(corners)):
        raise NoraReadError(f"{path}: the STL file has non-finite vertex coordinates")
    space = _SPACE.search(title)
    space = space.group(1).decode().upper() if space else "RAS"
    verts, faces = merge_vertices(corners)
    if space == "LPS":
        verts = verts * np.array([-1, -1, 1], dtype=np.float32)
    meta = {"format": "STL", "space": space, "stl_mode": mode.name.lower()}
    return [surface_layer(verts, faces, name=layer_name(path), path=path, metadata=meta)]
