"""Filter terms on date columns as date ranges, so the database can use its index.

A bar term is a prefix of the ISO date (``2016``, ``2016-03``, ``2016-1``, ``2016-03-1``...)
with an implicit trailing wildcard; every date whose ``YYYY-MM-DD`` text starts with the prefix
lies in one half-open range ``[lo, hi)``, computed here. Terms with explicit wildcards
(``19*-05``) or other text fall back to ``LIKE`` on the date as text.

>>> prefix_range("2016-03")
(datetime.date(2016, 3, 1), datetime.date(2016, 4, 1))
>>> prefix_range("2016-1")
(datetime.date(2016, 10, 1), datetime.date(2017, 1, 1))
>>> prefix_range("19")
(datetime.date(1900, 1, 1), datetime.date(2000, 1, 1))
>>> prefix_range("2016-13") is None, prefix_range("19*-05") is None
(True, True)
"""

from __future__ import annotations

import calendar
import re
from datetime import date

# digits of YYYY-MM-DD in place, cut anywhere (a trailing '-' is allowed)
_PREFIX = re.compile(r"^\d{1,4}$|^\d{4}-(\d{1,2}(-\d{0,2})?)?$")
_TEMPLATE = "0000-00-00"


def _ceil(text: str) -> date | None:
    """The first valid date whose ISO text is >= ``text`` (10 characters, digits may be one
    past 9, written ':'); None past year 9999."""
    digits = [ord(c) - 48 for c in text]
    year = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3]
    month = digits[5] * 10 + digits[6]
    day = digits[8] * 10 + digits[9]
    if month == 0:
        month, day = 1, 1
    elif month > 12:
        year, month, day = year + 1, 1, 1
    year = max(year, 1)
    if day == 0:
        day = 1
    elif year <= 9999 and day > calendar.monthrange(year, month)[1]:
        year, month, day = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
    if year > 9999:
        return None
    return date(year, month, day)


def prefix_range(term: str) -> tuple[date, date | None] | None:
    """``[lo, hi)`` holding exactly the dates whose ISO text starts with ``term`` (``hi`` None:
    no upper bound), or None when ``term`` is not a plain date prefix or no date matches."""
    term = term.rstrip("-") if len(term) in (5, 8) else term
    if not _PREFIX.match(term) or not term:
        return None
    lo = _ceil(term + _TEMPLATE[len(term):])
    nxt = term[:-1] + chr(ord(term[-1]) + 1)  # the first text after every text starting so
    hi = _ceil(nxt + _TEMPLATE[len(nxt):])
    if lo is None or (hi is not None and hi <= lo) or not lo.isoformat().startswith(term):
        return None
    return lo, hi
