"""The batch tool's logic, without Qt: argument rows from a job's code, the job menu, and the
one-line summary of file previews. What needs the archive (previews, saved batches, launches)
goes through the desktop's :class:`~nora_server.batch.client.BatchClient`, ``context.batch``.

A generic BASH or Python job gets one argument row per ``$f1``, ``$o1``, ``$p1``, ``$s1``,
``$n1`` its code refers to, as in NORA::

    >>> code_vars("cp $f1 $o1 && echo $n1")
    ['f1', 'o1', 'n1']
    >>> default_arg("o1")
    {'type': 'OUT', 'var': 'o1', 'name': '', 'study': ''}

Arguments are the dicts of the batch document (:mod:`nora_server.batch.model`), each with its
``var``; ``BatchClient.validate`` checks the finished batch.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

#: argument types a variable letter may take (the first is the default)
LETTER_TYPES = {"f": ("FILE",), "o": ("OUT",), "p": ("PATHOUT",), "s": ("STRING", "OPTION"),
                "n": ("NUMERIC", "LOGICAL")}
#: study selectors offered in the rows (any text of :mod:`nora_server.batch.resolve` works)
STUDY_SELECTORS = ("", "first", "last", "all", "this", "1", "2", "-1")
GENERIC = {"bash": "Generic BASH", "python": "Generic Python"}
_ORDER = "fopsn"


def var_key(var: str) -> tuple[int, int]:
    """Sort key: FILE, OUT, PATHOUT, STRING, NUMERIC, then by number."""
    return _ORDER.index(var[0]), int(var[1:])


def code_vars(code: str) -> list[str]:
    """The job variables ``code`` refers to, in row order."""
    from nora_server.batch.client import BatchClient

    return [row["var"] for row in BatchClient.argument_rows(code)]


def default_arg(var: str, kind: str | None = None) -> dict:
    """An empty argument for ``var`` (of type ``kind``, else the letter's default type)."""
    kind = kind or LETTER_TYPES[var[0]][0]
    if kind not in LETTER_TYPES[var[0]]:
        raise ValueError(f"${var} cannot be a {kind} argument")
    arg = {"type": kind, "var": var}
    if kind == "FILE":
        arg.update(pattern="", study="")
    elif kind in ("OUT", "PATHOUT"):
        arg.update(name="", study="")
    elif kind == "NUMERIC":
        arg["value"] = 0
    elif kind == "LOGICAL":
        arg["value"] = False
    elif kind == "OPTION":
        arg.update(value="", choices=[])
    else:
        arg["value"] = ""
    return arg


def function_catalog() -> dict[str, str]:
    """Registered job functions: ``{name: first line of its description}``."""
    return {f["name"]: ((f.get("doc") or "").strip().splitlines() or [""])[0]
            for f in _functions()}


def _functions() -> list[dict]:
    from nora_server.batch.client import BatchClient

    return BatchClient.functions()


def function_args(name: str) -> list[dict]:
    """The arguments a registered function takes, from its argument templates."""
    spec = next((f for f in _functions() if f["name"] == name), None)
    if spec is None:
        raise ValueError(f"no registered job function {name!r}")
    out = []
    for t in spec.get("args") or []:
        arg = default_arg(t["var"], t["type"])
        arg.update({k: t[k] for k in ("pattern", "name", "study", "value", "choices")
                    if k in t})
        out.append(arg)
    return out


def new_job(kind: str, *, number: int = 1) -> dict:
    """A new job document: ``kind`` is ``bash``, ``python`` or ``function:<name>``."""
    if kind in GENERIC:
        example = "cp $f1 $o1" if kind == "bash" else "import shutil\nshutil.copy($f1, $o1)"
        job = {"name": f"job{number}", "type": kind, "code": example}
        job["args"] = [default_arg(v) for v in code_vars(example)]
        return job
    if not kind.startswith("function:"):
        raise ValueError(f"unknown job kind {kind!r}")
    name = kind.split(":", 1)[1]
    return {"name": name, "type": "function", "function": name,
            "args": function_args(name)}


def sync_args(code: str, args: list[dict], kept: dict[str, dict]) -> list[dict]:
    """Argument rows for ``code``: existing rows stay, new variables get a row (restored from
    ``kept`` when it was there before), rows of variables no longer used move to ``kept``."""
    wanted = code_vars(code)
    by_var = {a["var"]: a for a in args}
    for var, arg in by_var.items():
        if var not in wanted:
            kept[var] = arg
    return [by_var.get(v) or kept.pop(v, None) or default_arg(v) for v in wanted]


def batch_doc(name: str, level: str, jobs: list[dict], resources: dict | None = None) -> dict:
    """The batch document of the tool's state (validate with ``parse_batch``)."""
    return {"name": name.strip() or "batch", "level": level, "resources": dict(resources or {}),
            "jobs": [dict(j) for j in jobs]}


# -- previews ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Preview:
    """What one FILE pattern matches for one target (subject, or subject/study), as shown."""

    target: str
    files: tuple[str, ...] = ()   # "STUDY/relative/path"
    error: str = ""


def shown(rows, root) -> list[Preview]:
    """``BatchClient.preview`` rows (absolute paths under the project folder ``root``) as
    shown: paths from the subject's folder (``"S1/t1/s001.nii"``)."""
    return [Preview(r.target, tuple(os.path.relpath(f, Path(root) / r.target.split("#")[0])
                                    for f in r.files), r.error or "") for r in rows]


def summarise(previews: list[Preview], more: int = 0) -> str:
    """One line: ``"3/4 subjects match (5 files); P003: no match in S1"``."""
    if not previews:
        return "select subjects or studies to preview"
    hits = [p for p in previews if p.files]
    n = sum(len(p.files) for p in hits)
    text = f"{len(hits)}/{len(previews)} match ({n} file{'s' if n != 1 else ''})"
    misses = [p for p in previews if not p.files]
    if misses:
        text += "; missing: " + ", ".join(p.target for p in misses[:3])
        text += " ..." if len(misses) > 3 else ""
    if more:
        text += f" (first {len(previews)} of {len(previews) + more} shown)"
    return text


def batch_settings(context) -> dict:
    """The ``[batch]`` section of the desktop's nora.toml (empty without settings)."""
    from nora_server.batch.site import batch_section

    return batch_section(getattr(context, "settings", None))


_BAD_NAME = re.compile(r"[\\/:*?\"<>|]")


def json_name(name: str) -> str:
    """A file name for a batch exported as JSON."""
    return (_BAD_NAME.sub("_", name.strip()) or "batch") + ".json"
