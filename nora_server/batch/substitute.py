"""Safe substitution of NORA's job variables into generic BASH and Python code.

``$f1..$f9`` (FILE), ``$o1..`` (OUT), ``$p1..`` (PATHOUT), ``$s1..`` (STRING, OPTION) and
``$n1..`` (NUMERIC, LOGICAL); ``${f1}`` works too. Values are never pasted raw: in BASH each is
one shell word (``shlex.quote``; a FILE matching several files becomes several words), in Python
each is a literal (``repr``; several files become a list). A backslash before the ``$`` keeps the
reference as written (``\\$f1``); other ``$`` uses (``$HOME``, ``$$``) are left alone.
"""

from __future__ import annotations

import re
import shlex

_REF = re.compile(r"(?<!\\)\$\{([fopsn][0-9]+)\}|(?<!\\)\$([fopsn][0-9]+)(?![0-9A-Za-z_])")


def referenced_vars(code: str) -> set[str]:
    """Variables the code refers to, e.g. ``{"f1", "o1"}``."""
    return {m.group(1) or m.group(2) for m in _REF.finditer(code)}


def _bash_word(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(_bash_word(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return shlex.quote(str(value))


def _python_literal(value) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return repr(value)


def substitute(code: str, values: dict, *, language: str) -> str:
    """Replace variable references in ``code`` by quoted ``values`` (``{"f1": [...], ...}``).

    >>> substitute("cp $f1 $o1", {"f1": ["/a b.nii"], "o1": "/o.nii"}, language="bash")
    "cp '/a b.nii' /o.nii"
    >>> substitute("x = $n1", {"n1": 3}, language="python")
    'x = 3'
    """
    quote = _bash_word if language == "bash" else _python_literal

    def repl(m: re.Match) -> str:
        var = m.group(1) or m.group(2)
        if var not in values:
            raise KeyError(f"${var} is used in the code but has no value")
        return quote(values[var])

    return _REF.sub(repl, code)


def environment(values: dict) -> dict[str, str]:
    """The variables as environment entries ``NORA_F1`` ... (several files joined by newlines)."""
    env = {}
    for var, value in values.items():
        if isinstance(value, (list, tuple)):
            value = "\n".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        env[f"NORA_{var.upper()}"] = str(value)
    return env
