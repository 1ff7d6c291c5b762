"""User settings of napari-nora (display convention), stored as JSON in the user config folder.

``NORA_VIEW_CONVENTION`` (``radiological`` or ``neurological``) overrides the stored value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

CONVENTIONS = ("radiological", "neurological")
DEFAULTS = {"convention": "radiological"}


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "napari-nora" / "settings.json"


def load() -> dict:
    out = dict(DEFAULTS)
    try:
        out.update(json.loads(settings_path().read_text()))
    except (OSError, ValueError):
        pass
    env = os.environ.get("NORA_VIEW_CONVENTION")
    if env in CONVENTIONS:
        out["convention"] = env
    if out["convention"] not in CONVENTIONS:
        out["convention"] = DEFAULTS["convention"]
    return out


def save(**changes) -> dict:
    cur = load()
    if "convention" in changes and changes["convention"] not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {changes['convention']!r}")
    cur.update(changes)
    p = settings_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(cur, indent=2))
    tmp.replace(p)
    return cur
