"""The filter-bar language, parsed once for every bar (the one parser of the archive).

NORA's rules:

- terms separated by spaces are alternatives (OR); ``&`` joins terms that must all hold (AND),
  and binds tighter than the space: ``a b & c`` is ``a OR (b AND c)``;
- every term ends in an implicit wildcard; ``*`` is any run of characters, ``_`` exactly one;
- special attributes work in any bar: ``STAG:`` (study tag), ``PTAG:`` (patient/subject tag),
  ``FTAG:`` (a file tag in the study), ``JOB:`` with ``q`` (queued), ``r`` (running) or ``e``
  (error), ``SDESC:`` (study description). Attribute names are case-insensitive.
- a term may be quoted to hold spaces: ``SDESC:"head ct"``.

>>> parse("t1_tri*/s0*.nii & STAG:control")
Filter(groups=((Term(attr='', value='t1_tri*/s0*.nii'), Term(attr='STAG', value='control')),))
>>> [len(g) for g in parse("A B").groups]
[1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

from nora_server.archive.errors import FilterError

ATTRIBUTES = ("STAG", "PTAG", "FTAG", "JOB", "SDESC")
JOB_STATES = {"q": "queued", "r": "running", "e": "error"}


@dataclass(frozen=True)
class Term:
    """One term: ``attr`` is ``""`` for the bar's own column, else one of :data:`ATTRIBUTES`."""

    attr: str
    value: str


@dataclass(frozen=True)
class Filter:
    """OR of AND-groups of terms. An empty filter (no groups) selects everything."""

    groups: tuple[tuple[Term, ...], ...]

    @property
    def empty(self) -> bool:
        return not self.groups


def _tokens(text: str) -> list[str | None]:
    """Split into words and ``None`` for each ``&`` (quotes keep spaces and ``&``)."""
    out: list[str | None] = []
    word: list[str] = []
    started = False
    quote = False
    for ch in text:
        if quote:
            if ch == '"':
                quote = False
            else:
                word.append(ch)
        elif ch == '"':
            quote = started = True
        elif ch.isspace() or ch == "&":
            if started:
                out.append("".join(word))
                word, started = [], False
            if ch == "&":
                out.append(None)
        else:
            word.append(ch)
            started = True
    if quote:
        raise FilterError(f"unbalanced quote in filter {text!r}: close the \" or remove it")
    if started:
        out.append("".join(word))
    return out


def _term(word: str, text: str) -> Term:
    head, sep, rest = word.partition(":")
    if sep and head.upper() in ATTRIBUTES:
        attr = head.upper()
        if not rest:
            raise FilterError(f"{attr}: needs a value in filter {text!r} (e.g. {attr}:control)")
        if attr == "JOB":
            rest = rest.lower()
            if any(c not in JOB_STATES for c in rest):
                raise FilterError(f"JOB:{rest} in filter {text!r}: use JOB:q (queued), "
                                  "JOB:r (running) or JOB:e (error)")
        return Term(attr, rest)
    return Term("", word)


def parse(text: str | None) -> Filter:
    """Parse a filter-bar expression; raise :class:`FilterError` with a clear message."""
    tokens = _tokens(text or "")
    groups: list[list[Term]] = []
    join_next = False
    for tok in tokens:
        if tok is None:
            if not groups or join_next:
                raise FilterError(f"'&' in filter {text!r} must stand between two terms")
            join_next = True
            continue
        term = _term(tok, text)
        if join_next:
            groups[-1].append(term)
            join_next = False
        else:
            groups.append([term])
    if join_next:
        raise FilterError(f"filter {text!r} ends with '&': add the term it should combine with")
    return Filter(tuple(tuple(g) for g in groups))
