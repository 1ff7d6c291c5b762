"""The per-file fast path of header indexing: the few attributes that place an instance in its
series, read from the top level of the file's first bytes.

Indexing a series needs the full header of its first file only (its summary, read with
pydicom); every other file needs just SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID and
ImagePositionPatient, plus a check that its pixel data is whole. pydicom builds a Dataset for
that (about 1 ms per file here); even its element generator costs about 4 us per element.
This walks the top-level elements of little-endian files with ``struct`` over one read of the
first 64 KiB (sequences are stepped over by their lengths and delimiters, never decoded),
5-10x faster, which is what lets an import keep up with dcm2niix. Anything it does not fully
understand (no preamble, big endian, deflated, a header beyond the first 64 KiB, a malformed
element) returns None, and the caller reads that file with pydicom. The tests compare both
readers on every pydicom test file.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
IMAGE_POSITION_PATIENT = 0x00200032
TRANSFER_SYNTAX_UID = 0x00020010
_WANTED = frozenset({SOP_INSTANCE_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID,
                     IMAGE_POSITION_PATIENT})
_FIRST_PIXEL_TAG = 0x7FE00008           # FloatPixelData, DoubleFloatPixelData, PixelData
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                       b"UR", b"UT", b"UV"})
_IMPLICIT_LE = "1.2.840.10008.1.2"
_LITTLE_ENDIAN_SYNTAXES_PREFIX = "1.2.840.10008.1.2."   # explicit LE and its compressed kin
_NOT_LITTLE = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflated
HEAD_BYTES = 1 << 16
_tag = struct.Struct("<HH").unpack_from
_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<L").unpack_from
_explicit_head = struct.Struct("<HH2sH").unpack_from   # group, element, VR, short length
_implicit_unpack = struct.Struct("<HHL").unpack_from


class TruncatedFile(ValueError):
    """The file ends inside its pixel data."""


class _Unsure(Exception):
    """This reader cannot be sure: let pydicom read the file."""


@dataclass(frozen=True)
class QuickHeader:
    sop_uid: str
    study_uid: str
    series_uid: str
    position: tuple[float, float, float] | None   # ImagePositionPatient, LPS mm


def _text(raw: bytes) -> str:
    return raw.decode("ascii").rstrip("\0 ")


def _element(buf: bytes, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR or None, value length, header length) of the element at ``pos``."""
    if pos + 8 > len(buf):
        raise _Unsure
    group, elem = _tag(buf, pos)
    tag = group << 16 | elem
    if implicit or group == 0xFFFE:
        return tag, None, _u32(buf, pos + 4)[0], 8
    vr = buf[pos + 4:pos + 6]
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _Unsure
        return tag, vr, _u32(buf, pos + 8)[0], 12
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _Unsure  # not a VR: implicit inside explicit, or garbage
    return tag, vr, _u16(buf, pos + 6)[0], 8


def _skip_undefined(buf: bytes, pos: int, implicit: bool) -> int:
    """Step over the items of an undefined-length sequence starting at ``pos``; returns the
    position after its sequence delimiter."""
    while True:
        tag, _, length, hdr = _element(buf, pos, True)
        pos += hdr
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Unsure
        if length != 0xFFFFFFFF:
            pos += length
            continue
        while True:  # an undefined-length item: its elements up to the item delimiter
            tag, vr, length, hdr = _element(buf, pos, implicit)
            pos += hdr
            if tag == _ITEM_END:
                break
            if length == 0xFFFFFFFF:
                pos = _skip_undefined(buf, pos, implicit or vr == b"UN")
            else:
                pos += length


def _walk(buf: bytes, pos: int, implicit: bool, *, wanted, stop) -> tuple[dict, int]:
    """Top-level elements from ``pos`` until a tag >= ``stop`` or the end of ``buf``:
    ({tag: raw value} of ``wanted``, position where it stopped). The common elements are
    read inline (one ``unpack_from`` each): this loop is the hot path."""
    values = {}
    n = len(buf)
    head = _implicit_head if implicit else _explicit_head
    long_vrs = _LONG_VRS
    while pos + 8 <= n:
        group, elem, vr, length = head(buf, pos)
        tag = group << 16 | elem
        if tag >= stop:
            return values, pos
        if implicit:
            pos += 8
        elif vr in long_vrs:
            if pos + 12 > n:
                raise _Unsure
            length = _u32(buf, pos + 8)[0]
            pos += 12
        elif 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90:
            pos += 8
        else:
            raise _Unsure  # not a VR: implicit inside explicit, or garbage
        if length == 0xFFFFFFFF:
            pos = _skip_undefined(buf, pos, implicit or vr == b"UN")
            continue
        if tag in wanted:
            if pos + length > n:
                raise _Unsure
            values[tag] = buf[pos:pos + length]
        pos += length
    return values, pos


def _implicit_head(buf: bytes, pos: int):
    group, elem, length = _implicit_unpack(buf, pos)
    return group, elem, None, length


def quick_header(path) -> QuickHeader | None:
    """The placing attributes of ``path``, or None when pydicom must read it.

    Raises :class:`TruncatedFile` when the pixel data is cut short."""
    try:
        with open(path, "rb") as f:
            buf = f.read(HEAD_BYTES)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    if len(buf) < 144 or buf[128:132] != b"DICM":
        return None
    try:
        meta, pos = _walk(buf, 132, False, wanted={TRANSFER_SYNTAX_UID}, stop=0x00030000)
        ts = _text(meta.get(TRANSFER_SYNTAX_UID, b""))
        if ts in _NOT_LITTLE or not (ts == _IMPLICIT_LE
                                     or ts.startswith(_LITTLE_ENDIAN_SYNTAXES_PREFIX)):
            return None
        implicit = ts == _IMPLICIT_LE
        values, pos = _walk(buf, pos, implicit, wanted=_WANTED, stop=_FIRST_PIXEL_TAG)
        if pos + 8 > len(buf) and len(buf) < size:
            return None  # the header goes on beyond what was read
        if pos > size:
            raise TruncatedFile("the file ends inside its header")
        _check_pixels(buf, pos, implicit, size)
        uids = [_text(values.get(t, b"")) for t in
                (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID)]
        raw = values.get(IMAGE_POSITION_PATIENT)
        ipp = tuple(float(v) for v in _text(raw).split("\\")) if raw else None
    except TruncatedFile:
        raise
    except (_Unsure, struct.error, UnicodeDecodeError, ValueError):
        return None
    if not all(uids):
        return None
    return QuickHeader(uids[0], uids[1], uids[2], ipp if ipp and len(ipp) == 3 else None)


def _check_pixels(buf: bytes, pos: int, implicit: bool, size: int) -> None:
    """At the pixel data element (or the end): its stated length must fit in the file."""
    if pos + 8 > len(buf):
        return  # no pixel data (reports, presentation states): nothing to check
    tag, _, length, hdr = _element(buf, pos, implicit)
    if tag not in _PIXEL_TAGS or length == 0xFFFFFFFF:
        return  # encapsulated (compressed) frames: their decoder checks them
    if pos + hdr + length > size:
        raise TruncatedFile(f"pixel data cut short: {size - pos - hdr} of {length} bytes "
                            "present")


def study_uid_of(dataset: bytes, transfer_syntax: str) -> str | None:
    """StudyInstanceUID of an encoded dataset (no preamble, no file meta), as a C-STORE
    brings it; None when only pydicom can tell (big endian, deflated, odd encoding)."""
    ts = str(transfer_syntax)
    if ts in _NOT_LITTLE or not (ts == _IMPLICIT_LE
                                 or ts.startswith(_LITTLE_ENDIAN_SYNTAXES_PREFIX)):
        return None
    try:
        values, _ = _walk(dataset, 0, ts == _IMPLICIT_LE, wanted={STUDY_INSTANCE_UID},
                          stop=STUDY_INSTANCE_UID + 1)
        return _text(values.get(STUDY_INSTANCE_UID, b"")) or None
    except (_Unsure, struct.error, UnicodeDecodeError):
        return None


def pixel_data_present(path) -> bool | None:
    """Whether ``path`` has a top-level pixel data element; None when only pydicom can tell."""
    try:
        with open(path, "rb") as f:
            buf = f.read(HEAD_BYTES)
            size = os.fstat(f.fileno()).st_size
        if len(buf) < 144 or buf[128:132] != b"DICM":
            return None
        meta, pos = _walk(buf, 132, False, wanted={TRANSFER_SYNTAX_UID}, stop=0x00030000)
        ts = _text(meta.get(TRANSFER_SYNTAX_UID, b""))
        if ts in _NOT_LITTLE or not (ts == _IMPLICIT_LE
                                     or ts.startswith(_LITTLE_ENDIAN_SYNTAXES_PREFIX)):
            return None
        implicit = ts == _IMPLICIT_LE
        _, pos = _walk(buf, pos, implicit, wanted=frozenset(), stop=_FIRST_PIXEL_TAG)
        if pos + 8 > len(buf):
            return None if len(buf) < size else False
        group, elem = _tag(buf, pos)
        return (group << 16 | elem) in _PIXEL_TAGS
    except (OSError, _Unsure, struct.error, UnicodeDecodeError, ValueError):
        return None


def looks_like_dicom(path: str | os.PathLike) -> bool:
    """Cheap sniff: DICM preamble, or an implicit little-endian group 0008 start (no preamble)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 4 and head[:2] in (b"\x08\x00", b"\x02\x00") and head[3:4] == b"\x00"
