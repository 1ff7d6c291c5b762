"""Anatomical labels at the edges of a 2D view, from its displayed axes and camera orientation.

World axes are ``(S, A, R)``; each has a positive and a negative letter. napari's camera
``orientation2d = (vertical, horizontal)`` says where the displayed axes increase:
``('up', 'left')`` puts +A at the top and +R on the left of an axial view (radiological).
"""

from __future__ import annotations

#: (positive, negative) letter of each spatial world axis S, A, R
AXIS_LETTERS = (("S", "I"), ("A", "P"), ("R", "L"))


def edge_labels(displayed, orientation2d, *, ndim: int = 3) -> dict[str, str]:
    """Letters at the 'top', 'bottom', 'left' and 'right' edges of a 2D view.

    Parameters
    ----------
    displayed : (int, int)
        World axes shown vertically and horizontally (napari ``dims.displayed``).
    orientation2d : (str, str)
        napari camera ``orientation2d``: ('up'|'down', 'left'|'right').
    ndim : int
        Number of world dimensions (the last three are S, A, R).

    >>> edge_labels((1, 2), ("up", "left"))  # axial, radiological
    {'top': 'A', 'bottom': 'P', 'left': 'R', 'right': 'L'}
    """
    v_axis, h_axis = (int(a) - (ndim - 3) for a in displayed[-2:])
    vertical, horizontal = orientation2d
    v_pos, v_neg = AXIS_LETTERS[v_axis] if 0 <= v_axis < 3 else ("", "")
    h_pos, h_neg = AXIS_LETTERS[h_axis] if 0 <= h_axis < 3 else ("", "")
    top, bottom = (v_pos, v_neg) if vertical == "up" else (v_neg, v_pos)
    right, left = (h_pos, h_neg) if horizontal == "right" else (h_neg, h_pos)
    return {"top": top, "bottom": bottom, "left": left, "right": right}


def view_orientation2d(kind: str, main_orientation2d) -> tuple[str, str]:
    """Camera ``orientation2d`` of a view of ``kind``, given the main (axial) view's.

    The display convention (radiological or neurological) is about the patient's left and
    right, which axial and coronal views show horizontally: they copy the main view. A sagittal
    view shows anterior-posterior horizontally and keeps anterior on the left in both
    conventions, as radiology workstations, FSLeyes and ITK-SNAP do.

    >>> view_orientation2d("sagittal", ("up", "right"))
    ('up', 'left')
    """
    vertical, horizontal = (str(getattr(o, "value", o)) for o in main_orientation2d)
    return (vertical, "left") if kind == "sagittal" else (vertical, horizontal)
