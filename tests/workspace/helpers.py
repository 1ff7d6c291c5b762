"""Screenshots and real Qt input for the workspace tests.

Mouse and keys go through Qt as a user's would (QMouseEvent/QWheelEvent sent to a view's
canvas widget, QTest key clicks): vispy turns them into its events, napari into its mouse and
key callbacks, so the whole path of a user's input is exercised.
"""

import time

import numpy as np
from qtpy.QtCore import QPoint, QPointF, Qt
from qtpy.QtGui import QMouseEvent, QWheelEvent
from qtpy.QtWidgets import QApplication

BUTTONS = {"left": Qt.MouseButton.LeftButton, "right": Qt.MouseButton.RightButton,
           "middle": Qt.MouseButton.MiddleButton}
MODS = {"Control": Qt.KeyboardModifier.ControlModifier,
        "Shift": Qt.KeyboardModifier.ShiftModifier}


def settle(qtbot, ms=30):
    QApplication.processEvents()
    qtbot.wait(ms)
    QApplication.processEvents()


def grab(view):
    """Screenshot (rows, cols, 4) uint8 of one view's canvas."""
    if hasattr(view.model, "window"):
        return np.asarray(view.model.screenshot(canvas_only=True, flash=False))
    return np.asarray(view.qt_viewer.screenshot(flash=False))


def white_centroid_px(img):
    """Centroid (x, y) in pixels of the largest blob of white pixels: the marker, not the
    yellow crosshair (which cuts it) and letters, nor the thin scale bar."""
    from scipy import ndimage

    white = (img[..., :3].astype(int) > 230).all(axis=-1)
    white = ndimage.binary_closing(white, np.ones((5, 5)))  # heal the crosshair's cut
    labels, n = ndimage.label(white)
    assert n, "no white pixels"
    sizes = ndimage.sum(white, labels, range(1, n + 1))
    ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    return xs.mean(), ys.mean()


def bright_centroid(img):
    """Centroid (row, col) of the marker as fractions of the image size."""
    x, y = white_centroid_px(img)
    return y / img.shape[0], x / img.shape[1]


def canvas_widget(view):
    return view.qt_viewer.canvas.native


def world_to_px(view, point):
    """Canvas pixel (x, y) where a 2D view draws world ``point`` (from its camera)."""
    model = view.model
    cam = model.scene.camera
    v_axis, h_axis = model.dims.displayed[-2:]
    size = canvas_widget(view).size()
    vertical, horizontal = (str(getattr(o, "value", o)) for o in cam.orientation2d)
    sx = 1.0 if horizontal == "right" else -1.0
    sy = 1.0 if vertical == "down" else -1.0
    x = size.width() / 2 + sx * (point[h_axis] - cam.center[-1]) * cam.zoom
    y = size.height() / 2 + sy * (point[v_axis] - cam.center[-2]) * cam.zoom
    return x, y


def _mods(modifiers):
    out = Qt.KeyboardModifier.NoModifier
    for m in modifiers:
        out |= MODS[m]
    return out


def _send(widget, kind, xy, button, buttons, modifiers):
    pos = QPointF(*xy)
    ev = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(QPoint(int(xy[0]), int(xy[1])))),
                     button, buttons, _mods(modifiers))
    QApplication.sendEvent(widget, ev)


def _pause(seconds=0.015):
    QApplication.processEvents()
    time.sleep(seconds)
    QApplication.processEvents()


def hover(view, xy, *, modifiers=()):
    """Move the mouse, no button pressed, to canvas pixel ``xy`` (from next to it: vispy
    reports a move only when the position changes)."""
    from qtpy.QtCore import QEvent

    w, none = canvas_widget(view), Qt.MouseButton.NoButton
    for at in ((xy[0] - 3, xy[1]), xy):
        _pause()
        _send(w, QEvent.Type.MouseMove, at, none, none, modifiers)
    _pause()


def drag(view, start, end, *, button="left", modifiers=(), steps=4):
    """Press at canvas pixel ``start``, move in ``steps`` to ``end``, release (a click when
    ``start == end``)."""
    path = [tuple(np.add(start, t * np.subtract(end, start)))
            for t in np.linspace(0, 1, steps + 1)[1:]] if start != end else []
    trace(view, [start, *path], button=button, modifiers=modifiers)


def trace(view, points, *, button="left", modifiers=()):
    """Press at canvas pixel ``points[0]``, move through the others, release at the last."""
    from qtpy.QtCore import QEvent

    w, b = canvas_widget(view), BUTTONS[button]
    _send(w, QEvent.Type.MouseButtonPress, points[0], b, b, modifiers)
    for xy in points[1:]:
        _pause()  # vispy drops moves under 10 ms apart; napari throttles them (5 ms timer)
        _send(w, QEvent.Type.MouseMove, xy, Qt.MouseButton.NoButton, b, modifiers)
    _pause()
    _send(w, QEvent.Type.MouseButtonRelease, points[-1], b, Qt.MouseButton.NoButton, modifiers)
    QApplication.processEvents()


def click(view, xy, **kw):
    drag(view, xy, xy, **kw)


def wheel(view, xy, notches, *, modifiers=()):
    """``notches`` clicks of the mouse wheel (positive: away from the user)."""
    w = canvas_widget(view)
    ev = QWheelEvent(QPointF(*xy), QPointF(w.mapToGlobal(QPoint(int(xy[0]), int(xy[1])))),
                     QPoint(0, 0), QPoint(0, int(120 * notches)), Qt.MouseButton.NoButton,
                     _mods(modifiers), Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(w, ev)
    QApplication.processEvents()


def key(qtbot, view, name, modifiers=()):
    """A key click on a view's canvas, e.g. ``key(qtbot, view, "Z", ("Control",))``."""
    qt_key = getattr(Qt.Key, f"Key_{name}")
    qtbot.keyClick(canvas_widget(view), qt_key, _mods(modifiers))
    QApplication.processEvents()
