"""NORA's keyboard shortcuts: one table used by the key bindings, the help overlay and the docs."""

from __future__ import annotations

from napari_nora.display import CT_WINDOWS

#: (napari key name, what it does)
KEYS: tuple[tuple[str, str], ...] = (
    *((k, f"CT window: {name} (L {lvl:g} / W {wid:g})") for k, (name, lvl, wid) in CT_WINDOWS.items()),
    ("0", "automatic window (robust percentiles)"),
    ("s", "open the settings window"),
    ("x", "slower scrolling (fewer slices per wheel notch)"),
    ("y", "faster scrolling (more slices per wheel notch)"),
    ("Space", "toggle ROI drawing"),
    ("Up", "previous subject (autoloader)"),
    ("Down", "next subject (autoloader)"),
    ("Control-Z", "undo (ROI drawing)"),
    ("Control-Shift-Z", "redo (ROI drawing)"),
    ("F1", "show or hide this help"),
)

#: mouse actions (button or wheel, what it does) as in NORA
MOUSE: tuple[tuple[str, str], ...] = (
    ("wheel", "change slice"),
    ("Ctrl + wheel", "zoom"),
    ("right drag", "pan"),
    ("left click", "move the crosshair (world position); all views follow"),
    ("middle drag", "window/level of the active image (Shift: this view only)"),
    ("Ctrl + left drag", "free for the navigation tool"),
)


def help_text() -> str:
    """Plain-text help listing keys and mouse actions (for the help overlay)."""
    width = max(len(k) for k, _ in (*KEYS, *MOUSE))
    lines = ["Keys"] + [f"  {k:<{width}}  {d}" for k, d in KEYS]
    lines += ["Mouse"] + [f"  {k:<{width}}  {d}" for k, d in MOUSE]
    return "\n".join(lines)
