"""Group DICOM frames into volumes with a voxel-to-LPS affine.

Rules (all from headers, before any pixel is read):

* an image seen twice (same ``SOPInstanceUID``, e.g. a copied file) is used once, the copy
  reported;
* one volume per series (``SeriesInstanceUID``), split further when frames differ in size,
  orientation or pixel spacing (one volume per geometry, labelled ``part n``);
* slices are ordered by their position along the slice normal (``ImagePositionPatient`` projected
  on ``row x column``), never by file name or instance number; the slice step of the affine is
  the vector between the first and last positions over ``n - 1`` (so gantry tilt gives the
  true, sheared grid), never ``SliceThickness``; missing slices leave empty slots so that
  every slice stays at its position; spacing that fits no even grid (variable pitch) splits
  the series into slabs of even spacing; both are noted and logged, never hidden;
* several frames at one position: split by echo when echoes differ, else stack as time
  (ordered by temporal position, acquisition number, trigger/acquisition time, instance number)
  when every position has the same count, else split by acquisition number; anything else is
  reported as a problem, not guessed;
* frames without position/orientation are stacked in instance order on a plain grid (noted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: positions closer than this along the normal (mm) are the same slice
POSITION_TOL = 0.01


@dataclass
class Stack:
    """A volume: ``frames[k][t]`` is slice ``k`` (along the normal) of volume ``t``; an empty
    ``frames[k]`` is a missing slice (never the first)."""

    frames: list
    affine_vox2lps: np.ndarray
    label: str = ""
    notes: list = field(default_factory=list)

    @property
    def n_volumes(self) -> int:
        return len(self.frames[0])


def _cluster(frames, key, same):
    groups: list[tuple[object, list]] = []
    for fr in frames:
        k = key(fr)
        for gk, members in groups:
            if same(gk, k):
                members.append(fr)
                break
        else:
            groups.append((k, [fr]))
    return groups


def _geometry_key(fr):
    return fr.shape, fr.orientation, fr.spacing


def _same_geometry(a, b) -> bool:
    def close(x, y, tol):
        if x is None or y is None:
            return x is None and y is None
        return bool(np.allclose(x, y, rtol=0, atol=tol))
    return a[0] == b[0] and close(a[1], b[1], 1e-3) and close(a[2], b[2], 1e-3)


def _join(label, extra):
    return f"{label} {extra}".strip()


def _plain_grid(frames, label) -> Stack:
    frames = sorted(frames, key=lambda f: f.time_key)
    sp = frames[0].spacing or (1.0, 1.0)
    aff = np.diag([sp[1], sp[0], frames[0].thickness or 1.0, 1.0])
    note = ("no ImagePositionPatient/ImageOrientationPatient: slices stacked in instance order "
            "on a plain grid, not at scanner positions")
    return Stack([[f] for f in frames], aff, label, [note])


def _slot_tol(step: float) -> float:
    """How far a slice may sit off its grid slot: a tenth of a slice, at least 0.1 mm (some
    scanners write positions rounded to 0.1 mm)."""
    return max(0.1 * abs(step), 0.1)


def _grid_slots(d) -> np.ndarray | None:
    """Slot of each slice (positions ``d`` along the normal, ascending) on one even grid,
    allowing gaps (missing slices) up to doubling the count; None when there is no such grid."""
    n = len(d)
    if n < 3:
        return np.arange(n)
    k = np.round((d - d[0]) / np.median(np.diff(d)))
    step = (d[-1] - d[0]) / k[-1]
    k = np.round((d - d[0]) / step).astype(int)
    if len(set(k.tolist())) != n or k[-1] + 1 > 2 * n:
        return None
    return k if np.max(np.abs(d - d[0] - k * step)) <= _slot_tol(step) else None


def _runs(d) -> list[list[int]]:
    """Split ascending positions into runs of even spacing (variable-pitch CT, a stray slice):
    consecutive equal steps form a run; a slice between two runs joins the longer one."""
    steps = np.diff(d)
    groups = [[0]]
    for i in range(1, len(steps)):
        s0 = steps[groups[-1][0]]
        if abs(steps[i] - s0) <= _slot_tol(s0):
            groups[-1].append(i)
        else:
            groups.append([i])
    owner = [-1] * len(d)
    for g in sorted(range(len(groups)), key=lambda g: -len(groups[g])):
        for i in range(groups[g][0], groups[g][-1] + 2):  # step i joins slices i and i + 1
            if owner[i] < 0:
                owner[i] = g
    runs = []
    for g in range(len(groups)):
        members = [i for i in range(len(d)) if owner[i] == g]
        if members:
            runs.append(members)
    return runs


def _affine(slices, slots, normal) -> tuple[np.ndarray, list]:
    """vox2lps of slices sitting at grid ``slots`` (first slot 0)."""
    first = slices[0][0]
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    sp_rows, sp_cols = first.spacing or (1.0, 1.0)
    notes = []
    p0 = first.position
    if slots[-1] > 0:
        step = (slices[-1][0].position - p0) / slots[-1]
        positions = np.array([s[0].position for s in slices])
        off = np.linalg.norm(positions - (p0 + np.outer(slots, step)), axis=1).max()
        if off > _slot_tol(np.linalg.norm(step)):
            notes.append(f"slice positions are up to {off:.3g} mm off a straight line: "
                         "slices placed on an even grid")
    else:
        step = normal * (first.thickness or 1.0)
    aff = np.eye(4)
    aff[:3, 0] = row_dir * sp_cols
    aff[:3, 1] = col_dir * sp_rows
    aff[:3, 2] = step
    aff[:3, 3] = p0
    return aff, notes


def _place(slices, normal, label) -> list[Stack]:
    """Stacks for slices ordered along the normal: one even grid (gaps left empty), else
    several slabs of even spacing."""
    d = np.array([s[0].position @ normal for s in slices])
    slots = _grid_slots(d)
    if slots is not None:
        aff, notes = _affine(slices, slots, normal)
        full = [[] for _ in range(slots[-1] + 1)]
        for k, sl in zip(slots, slices):
            full[k] = sl
        missing = len(full) - len(slices)
        if missing:
            notes.append(f"{missing} missing slice(s) (gaps between positions): left empty "
                         "so that every slice stays at its ImagePositionPatient")
        return [Stack(full, aff, label, notes)]
    runs = _runs(d)
    steps = np.diff(d)
    out = []
    for n, run in enumerate(runs):
        sub = [slices[i] for i in run]
        aff, notes = _affine(sub, np.arange(len(sub)), normal)
        notes.append(f"irregular slice spacing ({steps.min():.4g} to {steps.max():.4g} mm): "
                     f"split into {len(runs)} slabs of even spacing")
        out.append(Stack(sub, aff, _join(label, f"slab {n + 1}"), notes))
    return out


def _assemble(frames, label) -> tuple[list[Stack], list]:
    if not frames[0].has_geometry:
        return [_plain_grid(frames, label)], []
    o = frames[0].orientation
    normal = np.cross(o[:3], o[3:])
    frames = sorted(frames, key=lambda f: f.position @ normal)
    slices = []
    last = None
    for fr in frames:
        d = fr.position @ normal
        if last is None or d - last > POSITION_TOL:
            slices.append([])
        slices[-1].append(fr)
        last = d
    counts = {len(s) for s in slices}
    if counts != {1}:
        echoes = {f.echo for f in frames}
        if len(echoes) > 1:
            return _split_by(frames, label, lambda f: f.echo, "echo")
        if len(counts) > 1:
            if len({f.acquisition for f in frames}) > 1:
                return _split_by(frames, label, lambda f: f.acquisition, "acquisition")
            reason = (f"positions hold different numbers of images ({min(counts)} to "
                      f"{max(counts)}): cannot build one volume")
            return [], [(frames, reason)]
        slices = [sorted(s, key=lambda f: f.time_key) for s in slices]
    return _place(slices, normal, label), []


def _split_by(frames, label, key, word):
    stacks, problems = [], []
    values = sorted({key(f) for f in frames}, key=lambda v: (v is None, v))
    for v in values:
        sub = [f for f in frames if key(f) == v]
        tag = f"{word} {v:g}" if v is not None else f"{word} unknown"
        s, p = _assemble(sub, _join(label, tag))
        stacks += s
        problems += p
    return stacks, problems


def build_stacks(frames) -> tuple[list[Stack], list]:
    """Volumes from frames (of any number of series).

    Returns
    -------
    stacks : list of Stack
    problems : list of (frames, reason)
        Frames that could not be put into a volume, with the reason.
    """
    stacks, problems = [], []
    by_series: dict[str, list] = {}
    seen: dict[tuple, object] = {}
    for fr in frames:
        uid = str(fr.header.get("SOPInstanceUID", "") or "")
        if uid and (uid, fr.index) in seen:  # the same image twice (a copied file)
            if seen[(uid, fr.index)] is not fr.source:
                problems.append(([fr], f"duplicate of {seen[(uid, fr.index)].name}"))
            continue
        seen[(uid, fr.index)] = fr.source
        by_series.setdefault(fr.series_uid, []).append(fr)
    for series_frames in by_series.values():
        groups = _cluster(series_frames, _geometry_key, _same_geometry)
        for n, (_, members) in enumerate(groups):
            label = f"part {n + 1}" if len(groups) > 1 else ""
            s, p = _assemble(members, label)
            if len(groups) > 1:
                for st in s:
                    st.notes.append(f"series split into {len(groups)} parts: its images differ "
                                    "in size, orientation or pixel spacing")
            stacks += s
            problems += p
    return stacks, problems
