"""Shared workspace state (psygnal evented dataclass) and the hooks other tools connect to.

Every view reads the world position from :class:`WorkspaceState` and writes it back when the
user moves it; the views never talk to each other directly. The hooks are signals for keys
whose action belongs to another tool (ROI drawing, the autoloader, undo/redo)::

    hooks.roi_toggled.connect(my_roi_tool.set_drawing)     # space
    hooks.subject_step.connect(autoloader.step)            # arrow up (-1) / down (+1)
    hooks.undo.connect(history.undo); hooks.redo.connect(history.redo)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psygnal import Signal, SignalGroup, evented

from napari_nora.workspace.layouts import LAYOUTS

#: wheel scroll speeds in slices per wheel notch; ``x`` goes one down, ``y`` one up
SCROLL_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@evented
@dataclass
class WorkspaceState:
    """State shared by all views of a workspace.

    Attributes
    ----------
    position : tuple of float
        The world point in napari world order (``(..., S, A, R)`` mm): crosshair and slices.
    layout : str
        Key of :data:`~napari_nora.workspace.layouts.LAYOUTS`.
    scroll_speed : float
        Slices per wheel notch (keys ``x``/``y``).
    roi_drawing : bool
        ROI drawing on/off (space); the ROI tool listens to ``events.roi_drawing``.
    active_view : int
        Index of the view the mouse last acted in.
    crosshair : bool
        Show the crosshair in the 2D views.
    """

    position: tuple = ()
    layout: str = "single"
    scroll_speed: float = 1.0
    roi_drawing: bool = False
    active_view: int = 0
    crosshair: bool = True

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}; choose one of {list(LAYOUTS)}")

    def set_axes(self, axes, values) -> bool:
        """Set ``position`` on some ``axes``; returns True when it changed (one event)."""
        pos = list(self.position)
        for ax, val in zip(axes, values, strict=True):
            if ax >= len(pos):
                pos.extend([0.0] * (ax + 1 - len(pos)))
            pos[ax] = float(val)
        new = tuple(pos)
        if new == tuple(self.position):
            return False
        self.position = new
        return True

    def faster(self) -> float:
        """Next scroll speed up (key ``y``)."""
        self.scroll_speed = _next_speed(self.scroll_speed, +1)
        return self.scroll_speed

    def slower(self) -> float:
        """Next scroll speed down (key ``x``)."""
        self.scroll_speed = _next_speed(self.scroll_speed, -1)
        return self.scroll_speed


def _next_speed(speed: float, direction: int) -> float:
    idx = min(range(len(SCROLL_SPEEDS)), key=lambda i: abs(SCROLL_SPEEDS[i] - speed))
    idx = max(0, min(len(SCROLL_SPEEDS) - 1, idx + direction))
    return SCROLL_SPEEDS[idx]


class WorkspaceHooks(SignalGroup):
    """Signals for keys whose action belongs to other tools (see the module docstring)."""

    roi_toggled = Signal(bool)  # space: ROI drawing now on (True) or off (False)
    subject_step = Signal(int)  # arrow up: -1 (previous subject), arrow down: +1 (next)
    undo = Signal()  # Ctrl-Z
    redo = Signal()  # Shift-Ctrl-Z
    settings_requested = Signal()  # s


@dataclass
class Workspace:
    """A workspace: the shared state plus its hooks (what a script or another tool holds)."""

    state: WorkspaceState = field(default_factory=WorkspaceState)
    hooks: WorkspaceHooks = field(default_factory=WorkspaceHooks)

    def toggle_roi_drawing(self) -> bool:
        self.state.roi_drawing = not self.state.roi_drawing
        self.hooks.roi_toggled.emit(self.state.roi_drawing)
        return self.state.roi_drawing
