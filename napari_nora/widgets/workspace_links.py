"""Where the workspace and the tools that serve its keys find each other.

Docks open in any order (``napari-nora`` opens the workspace first; a user may open the ROI
tool first from the Plugins menu), so both sides register here: an ROI tool calls
:func:`roi_tool_opened`; the workspace controller links every ROI tool of its viewer when it
is made, and any opened later. Linking connects the workspace hooks to the tool
(``WorkspaceController.link_roi_tool``): space toggles the tool's drawing, Ctrl-Z / Shift-Ctrl-Z
reach its undo history. Weak references only: a closed tool or viewer is not kept alive.
"""

from __future__ import annotations

import weakref

_ROI_TOOLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def unwrap(viewer):
    """The viewer itself, also when napari handed a dock its ``PublicOnlyProxy``."""
    return getattr(viewer, "__wrapped__", viewer)


def roi_tool_opened(viewer, tool) -> None:
    """Register an ROI tool (has ``settings.drawing``, ``undo()``, ``redo()``, ``drawing``)."""
    viewer = unwrap(viewer)
    _ROI_TOOLS.setdefault(viewer, weakref.WeakSet()).add(tool)
    controller = getattr(viewer, "_nora_workspace", None)
    if controller is not None:
        controller.link_roi_tool(tool)


def roi_tools(viewer) -> list:
    return list(_ROI_TOOLS.get(unwrap(viewer), ()))
