"""NORA file patterns and filter terms as SQL ``LIKE`` patterns.

``*`` is any run of characters (``%`` in SQL), ``_`` exactly one character (as in SQL).
Characters special to ``LIKE`` that the user did not mean as wildcards (``%`` and the escape
character itself) are escaped with a backslash, and the ``ESCAPE`` clause is only added when
it is needed (so SQLite can still use an index for a literal prefix).

>>> to_like("t1*/s0__.nii")
('t1%/s0__.nii', None)
>>> to_like("A", trailing_wildcard=True)
('A%', None)
>>> to_like("100%")
('100\\\\%', '\\\\')
"""

from __future__ import annotations

import re
from functools import lru_cache

ESCAPE = "\\"


def to_like(pattern: str, *, trailing_wildcard: bool = False) -> tuple[str, str | None]:
    """Return ``(like_pattern, escape_or_None)`` for a NORA pattern."""
    out, escaped = [], False
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch in ("%", ESCAPE):
            out.append(ESCAPE + ch)
            escaped = True
        else:
            out.append(ch)
    like = "".join(out)
    if trailing_wildcard and not like.endswith("%"):
        like += "%"
    return like, (ESCAPE if escaped else None)


def like(column, pattern: str, *, trailing_wildcard: bool = False):
    """``column LIKE pattern`` as an SQLAlchemy expression (case-insensitive on both back ends:
    the archive's name columns use a case-insensitive collation)."""
    if not trailing_wildcard and not has_wildcards(pattern):
        return column == pattern
    pat, esc = to_like(pattern, trailing_wildcard=trailing_wildcard)
    return column.like(pat, escape=esc) if esc else column.like(pat)


def has_wildcards(pattern: str) -> bool:
    return "*" in pattern or "_" in pattern


@lru_cache(maxsize=512)
def to_regex(pattern: str) -> re.Pattern:
    """The same pattern as a case-insensitive regular expression (for matching in Python)."""
    body = "".join(".*" if c == "*" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body + r"\Z", re.IGNORECASE | re.DOTALL)


def matches(pattern: str, text: str) -> bool:
    """``True`` if ``text`` matches the NORA pattern (same semantics as the SQL side)."""
    return to_regex(pattern).match(text) is not None

