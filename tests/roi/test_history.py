import numpy as np
import pytest

from napari_nora.roi import History, brush, dilation, polygon_patch
from napari_nora.roi.patch import box_size


def stroke(h, points, *, radius=2.0, value=True, axis=0):
    h.begin_stroke()
    for p in points:
        h.paint(brush(h.mask, p, radius=radius, axis=axis), value=value)
    return h.end_stroke()


def test_undo_and_redo_walk_a_sequence_of_strokes_back_and_forth(rng):
    h = History(np.zeros((6, 40, 40), bool), max_steps=40)
    states = [h.mask.copy()]
    for _ in range(30):
        c = (int(rng.integers(6)), *rng.integers(0, 40, 2))
        erase = bool(rng.random() < 0.3)
        if stroke(h, [c, (c[0], c[1] + 3, c[2] + 1)], radius=float(rng.integers(1, 6)),
                  value=not erase):
            states.append(h.mask.copy())
    n = len(states) - 1
    assert n >= 20
    for k in range(n, 0, -1):
        np.testing.assert_array_equal(h.mask, states[k])
        assert h.undo() is not None
    np.testing.assert_array_equal(h.mask, states[0])
    assert h.undo() is None
    for k in range(1, n + 1):
        assert h.redo() is not None
        np.testing.assert_array_equal(h.mask, states[k])
    assert h.redo() is None


def test_a_stroke_of_many_dabs_is_one_step_stored_as_its_changed_box_bit_packed():
    h = History(np.zeros((4, 64, 64), bool))
    stroke(h, [(1, 10, 10 + k) for k in range(20)], radius=3)
    (nbytes, voxels), = h.step_sizes()
    assert voxels == 1 * 7 * 26  # rows 7..13, cols 7..32 of one slice
    assert nbytes == -(-voxels // 8)
    h.undo()
    assert not h.mask.any()


def test_only_the_oldest_steps_beyond_the_limit_are_dropped():
    h = History(np.zeros((1, 10, 30), bool), max_steps=20)
    for k in range(25):
        h.paint(brush(h.mask, (0, 5, k), radius=0))
    assert sum(h.undo() is not None for _ in range(30)) == 20
    assert h.mask.sum() == 5


def test_a_new_step_clears_redo_and_a_no_op_is_not_recorded():
    h = History(np.zeros((3, 10, 10), bool))
    h.paint(brush(h.mask, (1, 5, 5), radius=1))
    h.undo()
    assert h.can_redo
    h.paint(brush(h.mask, (1, 2, 2), radius=1))
    assert not h.can_redo
    assert not h.paint(brush(h.mask, (1, 2, 2), radius=1))  # already on: nothing changed
    assert len(h.step_sizes()) == 1


def test_operations_and_polygons_undo_to_the_exact_previous_mask():
    h = History(np.zeros((8, 20, 20), bool))
    h.paint(polygon_patch([(2, 2), (2, 12), (12, 7)], h.mask.shape, axis=0, index=4))
    after_polygon = h.mask.copy()
    assert h.replace(dilation(h.mask))
    step_bytes, step_voxels = h.step_sizes()[-1]
    assert step_voxels < h.mask.size  # only the changed box
    h.undo()
    np.testing.assert_array_equal(h.mask, after_polygon)
    h.redo()
    np.testing.assert_array_equal(h.mask, dilation(after_polygon))
    assert not h.replace(h.mask.copy())


def test_assign_writes_a_box_as_one_step():
    h = History(np.zeros((4, 4, 4), bool))
    sl = (slice(1, 3), slice(0, 4), slice(2, 4))
    assert h.assign(sl, np.ones((2, 4, 2), bool))
    assert h.mask.sum() == 16 and box_size(h.undo()) == 16 and not h.mask.any()


def test_history_refuses_too_few_steps_and_non_bool_masks():
    with pytest.raises(ValueError, match="20"):
        History(np.zeros((2, 2), bool), max_steps=5)
    with pytest.raises(ValueError, match="bool"):
        History(np.zeros((2, 2), np.uint8))


def test_cancel_stroke_restores_the_mask_and_records_nothing():
    h = History(np.zeros((2, 12, 12), bool))
    h.paint(brush(h.mask, (0, 3, 3), radius=1))
    before = h.mask.copy()
    h.begin_stroke()
    h.paint(brush(h.mask, (0, 8, 8), radius=3))
    h.paint(brush(h.mask, (0, 3, 3), radius=2), value=False)
    h.cancel_stroke()
    np.testing.assert_array_equal(h.mask, before)
    assert len(h.step_sizes()) == 1 and not h.in_stroke
