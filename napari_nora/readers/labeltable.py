"""Label tables beside label images: FreeSurfer LUT (``idx name R G B A``), plain text
(``idx name [R G B [A]]``), and JSON.

JSON accepted: ``{"1": "hippocampus", ...}``, ``{"1": {"name": ..., "color": [r, g, b]}}`` or a
list of ``{"index"|"value"|"label": i, "name": ..., "color": [...]}``. A JSON that is not a label
table (a BIDS sidecar, say) is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

TABLE_NAMES = ("FreeSurferColorLUT.txt", "labels.txt", "labels.json", "LUT.txt")


def _color(vals):
    if not vals:
        return None
    c = [float(v) for v in vals[:4]]
    if max(c) > 1.0:
        c = [v / 255.0 for v in c]
    if len(c) == 3:
        c.append(1.0)
    # FreeSurfer's 4th column is transparency (0 = opaque)
    return c


def parse_text(text: str) -> dict[int, tuple[str, list | None]]:
    table = {}
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        try:
            idx = int(parts[0])
        except ValueError:
            continue
        name, rest = parts[1], parts[2:]
        try:
            color = _color(rest[:3]) if len(rest) >= 3 else None
        except ValueError:
            color = None
        table[idx] = (name, color)
    return table


def parse_json(obj) -> dict[int, tuple[str, list | None]] | None:
    table = {}
    if isinstance(obj, dict):
        items = obj.items()
        for k, v in items:
            try:
                idx = int(k)
            except (TypeError, ValueError):
                return None
            if isinstance(v, str):
                table[idx] = (v, None)
            elif isinstance(v, dict) and "name" in v:
                table[idx] = (str(v["name"]), _color(v.get("color")))
            else:
                return None
    elif isinstance(obj, list):
        for v in obj:
            if not isinstance(v, dict) or "name" not in v:
                return None
            key = next((k for k in ("index", "value", "label") if k in v), None)
            if key is None:
                return None
            table[int(v[key])] = (str(v["name"]), _color(v.get("color")))
    else:
        return None
    return table or None


def read_table(path) -> dict[int, tuple[str, list | None]] | None:
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError:
        return None
    if p.suffix.lower() == ".json":
        try:
            return parse_json(json.loads(text))
        except ValueError:
            return None
    return parse_text(text) or None


def find_table(image_path, stem: str):
    """A label table beside ``image_path`` (same stem, or a well-known name in the folder)."""
    folder = Path(image_path).parent
    candidates = [folder / f"{stem}{suf}" for suf in
                  (".txt", ".nii.txt", "_lut.txt", ".ctbl", ".json", "_labels.json", "_labels.txt")]
    candidates += [folder / n for n in TABLE_NAMES]
    for c in candidates:
        if c.is_file():
            table = read_table(c)
            if table:
                return table, c
    return None, None


def labels_kwargs(table) -> dict:
    """napari Labels kwargs (colormap, features) for a table {idx: (name, rgba or None)}."""
    indices = sorted(table)
    kwargs = {"features": {"index": [0, *indices],
                           "name": ["background", *[table[i][0] for i in indices]]}}
    colors = {i: table[i][1] for i in indices if table[i][1] is not None}
    if colors:
        colors[0] = [0, 0, 0, 0]
        colors[None] = [0.5, 0.5, 0.5, 1.0]
        kwargs["colormap"] = colors
    return kwargs
