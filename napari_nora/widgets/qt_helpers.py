"""Small Qt helpers shared by the dock widgets."""

from __future__ import annotations

from qtpy.QtWidgets import QFrame, QScrollArea, QWidget


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area: a long form (the batch tool, the ROI tool) scrolls on a small
    screen instead of widening its dock or making the window taller than the screen."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area
