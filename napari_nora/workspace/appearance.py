"""Which appearance properties views share, and where a change goes.

NORA: "Most properties (colormapping, outlines, etc.) are set for all instances of the object in
all viewports. If you want the same object to have different appearance properties in
different viewports use the shift key while selecting the property."
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


def propagate(*, shift: bool) -> bool:
    """True when an appearance change made in one view should reach all views.

    Shift held while changing makes the change for that view only.
    """
    return not shift
