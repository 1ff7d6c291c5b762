"""DICOM date matching from what people type (no pydicom or pynetdicom here: the desktop checks
a typed date on its GUI thread)."""

from __future__ import annotations

import re


def normalise_date(value: str) -> str:
    """DICOM date matching: ``20240101``, ``20240101-20240131``, open ends ``20240101-``.
    ISO dates are accepted (``2024-01-01``, range ``2024-01-01..2024-01-31``)."""
    value = value.strip()
    if ".." in value:
        a, b = value.split("..", 1)
        return f"{normalise_date(a) if a else ''}-{normalise_date(b) if b else ''}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value.replace("-", "")
    return value
