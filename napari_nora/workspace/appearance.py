"""Which appearance properties views share, and which views a change reaches.

NORA: "Most properties (colormapping, outlines, etc.) are set for all instances of the object in
all viewports. If you want the same object to have different appearance properties in
different viewports use the shift key while selecting the property."

Here a change made with Shift held goes to the *active* view only (the view the mouse last
worked in); the other views keep what they showed. A change without Shift reaches every view
again, and so ends any per-view setting of that property.
"""

from __future__ import annotations

#: layer properties copied from a layer to its instances in the other views
SHARED_PROPERTIES = (
    "colormap", "contrast_limits", "gamma", "opacity", "blending", "visible",
    "interpolation2d", "contour", "iso_gradient_mode", "rendering", "iso_threshold",
    "attenuation", "depiction", "data_level",
)
#: geometry: always shared (the views must agree on where a layer is)
GEOMETRY_PROPERTIES = ("scale", "translate", "rotate", "shear", "affine")


def reaches(view: int, active_view: int, *, shift: bool) -> bool:
    """True when an appearance change reaches view number ``view``.

    >>> reaches(2, 0, shift=False), reaches(2, 0, shift=True), reaches(2, 2, shift=True)
    (True, False, True)
    """
    return not shift or view == active_view
