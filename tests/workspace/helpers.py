import numpy as np
from qtpy.QtWidgets import QApplication


def settle(qtbot, ms=50):
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
