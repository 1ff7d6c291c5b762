"""Small Qt helpers shared by the dock widgets."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QDockWidget, QFrame, QScrollArea, QWidget


def scrolled(widget: QWidget, *, keep_width: bool = False) -> QScrollArea:
    """``widget`` in a scroll area: a long form (the batch tool, the ROI tool) scrolls on a small
    screen instead of widening its dock or making the window taller than the screen.
    ``keep_width``: it scrolls up and down only, its dock never narrower than the form."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    if keep_width:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setMinimumWidth(widget.minimumSizeHint().width()
                             + area.verticalScrollBar().sizeHint().width())
    return area


def dock_of(widget: QWidget | None) -> QDockWidget | None:
    """The dock ``widget`` sits in (None when it is not docked)."""
    while widget is not None and not isinstance(widget, QDockWidget):
        widget = widget.parentWidget()
    return widget


def column_of(window, dock) -> list[QDockWidget]:
    """The other docks shown in ``dock``'s column. A dock tabbed behind another (napari's
    display settings behind the workspace) counts as visible but lies outside the column: only
    docks over the same stretch of width share it."""
    area, x = window.dockWidgetArea(dock), dock.geometry()
    return [d for d in window.findChildren(QDockWidget) if d is not dock and d.isVisible()
            and not d.isFloating() and window.dockWidgetArea(d) == area
            and d.geometry().left() < x.right() and x.left() < d.geometry().right()]


def share_column(window, dock, fraction: float) -> None:
    """Give ``dock`` that ``fraction`` of its column's height, the docks shown below or above it
    the rest (Qt resizes one dock of a column only a little)."""
    others = column_of(window, dock)
    if others:
        height = sum(d.height() for d in (dock, *others))
        rest = int(height * (1 - fraction)) // len(others)
        window.resizeDocks([dock, *others], [height - rest * len(others)] + [rest] * len(others),
                           Qt.Orientation.Vertical)
