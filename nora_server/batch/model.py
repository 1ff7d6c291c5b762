"""The batch JSON: an ordered list of jobs, each with typed arguments.

A batch document (saved in the archive as a JSON document, launched with ``nora --launch``)::

    {"name": "copy T1", "level": "subject",
     "resources": {"cpus": 1, "mem_gb": 1, "time_min": 10, "partition": "DPXproc"},
     "jobs": [{"name": "copy", "type": "bash", "code": "cp $f1 $o1",
               "args": [{"type": "FILE", "pattern": "t1*/s0*.nii", "study": "first"},
                        {"type": "OUT", "name": "derived/t1.nii TAG(copy)", "study": "first"}]}]}

Job ``type`` is ``bash`` or ``python`` (generic jobs: ``code`` with ``$f1``-style variables) or
``function`` (a registered Python function, ``function`` names it). Argument types and the
variable letter they bind: FILE ``f``, OUT ``o``, PATHOUT ``p``, STRING and OPTION ``s``,
NUMERIC and LOGICAL ``n``; numbered from 1 in order of appearance per letter (an argument may
name its variable explicitly with ``"var": "f2"``). ``study`` is a study selector
(see :mod:`nora_server.batch.resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LEVELS = ("subject", "study")
JOB_TYPES = ("bash", "python", "function")
ARG_LETTER = {"FILE": "f", "OUT": "o", "PATHOUT": "p", "STRING": "s", "OPTION": "s",
              "NUMERIC": "n", "LOGICAL": "n"}
_TAG = re.compile(r"\s+TAG\(([^()]*)\)\s*$")
_VAR = re.compile(r"^[fopsn][1-9][0-9]*$")


class BatchError(ValueError):
    """The batch document is not valid; the message says which job and argument."""


@dataclass(frozen=True)
class Argument:
    type: str
    var: str
    pattern: str = ""          # FILE
    name: str = ""             # OUT / PATHOUT (without the TAG suffix)
    tags: tuple[str, ...] = ()  # OUT: TAG(a,b)
    study: str = ""            # FILE / OUT / PATHOUT: study selector ("" = level default)
    value: object = None       # NUMERIC / STRING / LOGICAL / OPTION
    choices: tuple[str, ...] = ()  # OPTION: the values offered

    def to_dict(self) -> dict:
        d: dict = {"type": self.type, "var": self.var}
        if self.type == "FILE":
            d["pattern"] = self.pattern
        elif self.type in ("OUT", "PATHOUT"):
            d["name"] = self.name + (f" TAG({','.join(self.tags)})" if self.tags else "")
        else:
            d["value"] = self.value
        if self.choices:
            d["choices"] = list(self.choices)
        if self.study:
            d["study"] = self.study
        return d


@dataclass(frozen=True)
class Job:
    name: str
    type: str
    code: str = ""
    function: str = ""
    args: tuple[Argument, ...] = ()

    def to_dict(self) -> dict:
        d: dict = {"name": self.name, "type": self.type, "args": [a.to_dict() for a in self.args]}
        if self.type == "function":
            d["function"] = self.function
        else:
            d["code"] = self.code
        return d


@dataclass(frozen=True)
class Batch:
    name: str
    level: str
    jobs: tuple[Job, ...]
    resources: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "level": self.level, "resources": dict(self.resources),
                "jobs": [j.to_dict() for j in self.jobs]}


def split_tags(out_name: str) -> tuple[str, tuple[str, ...]]:
    """``"derived/x.nii TAG(a, b)"`` -> ``("derived/x.nii", ("a", "b"))``."""
    m = _TAG.search(out_name)
    if not m:
        return out_name.strip(), ()
    tags = tuple(t.strip() for t in m.group(1).split(",") if t.strip())
    return out_name[: m.start()].strip(), tags


def _parse_arg(raw: dict, where: str, counters: dict) -> Argument:
    if not isinstance(raw, dict) or "type" not in raw:
        raise BatchError(f"{where}: an argument must be an object with a 'type'")
    kind = str(raw["type"]).upper()
    if kind not in ARG_LETTER:
        raise BatchError(f"{where}: unknown argument type {raw['type']!r}; "
                         f"use one of {', '.join(sorted(ARG_LETTER))}")
    letter = ARG_LETTER[kind]
    counters[letter] = counters.get(letter, 0) + 1
    var = str(raw.get("var") or f"{letter}{counters[letter]}")
    if not _VAR.match(var) or var[0] != letter:
        raise BatchError(f"{where}: variable {var!r} does not fit a {kind} argument "
                         f"(expected {letter}1, {letter}2, ...)")
    study = str(raw.get("study", "") or "")
    if kind == "FILE":
        pattern = str(raw.get("pattern", "")).strip()
        if not pattern:
            raise BatchError(f"{where}: FILE ${var} needs a 'pattern' such as 't1*/s0*.nii'")
        return Argument(kind, var, pattern=pattern, study=study)
    if kind in ("OUT", "PATHOUT"):
        name, tags = split_tags(str(raw.get("name", "")))
        if not name or any(c in name for c in "*%?") or name.startswith("/") or ".." in name.split("/"):
            raise BatchError(f"{where}: {kind} ${var} needs a relative name without wildcards "
                             f"or '..', got {raw.get('name')!r}")
        if kind == "PATHOUT" and tags:
            raise BatchError(f"{where}: PATHOUT ${var} cannot carry TAG(...)")
        return Argument(kind, var, name=name, tags=tags, study=study)
    value = raw.get("value")
    if kind == "NUMERIC":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value) if "." in str(value) or "e" in str(value).lower() else int(value)
            except (TypeError, ValueError):
                raise BatchError(f"{where}: NUMERIC ${var} needs a number, got {value!r}") from None
    elif kind == "LOGICAL":
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        value = bool(value)
    elif kind == "OPTION":
        choices = raw.get("choices") or ()
        if isinstance(choices, str) or not isinstance(choices, (list, tuple)):
            raise BatchError(f"{where}: OPTION ${var} needs 'choices' as a list, got "
                             f"{choices!r}")
        choices = tuple(str(c) for c in choices)
        value = "" if value is None else str(value)
        if choices and value not in choices:
            raise BatchError(f"{where}: OPTION ${var} is {value!r}, not one of "
                             f"{list(choices)}")
        return Argument(kind, var, value=value, choices=choices)
    else:
        value = "" if value is None else str(value)
    return Argument(kind, var, value=value)


RESOURCE_NUMBERS = {"cpus": int, "mem_gb": float, "time_min": float, "gpus": int,
                    "array_parallelism": int}
RESOURCE_TEXTS = ("partition", "queue")


def check_resources(resources: dict) -> None:
    for key, value in resources.items():
        if key in RESOURCE_TEXTS:
            if value is not None and not isinstance(value, str):
                raise BatchError(f"resources: {key} must be a name, got {value!r}")
        elif key in RESOURCE_NUMBERS:
            if value is None:
                continue
            try:
                number = RESOURCE_NUMBERS[key](value)
            except (TypeError, ValueError):
                number = None
            smallest_ok = number is not None and (number >= 0 if key == "gpus" else number > 0)
            if isinstance(value, bool) or not smallest_ok:
                raise BatchError(f"resources: {key} must be a positive number, got {value!r}")
        else:
            raise BatchError(f"resources: unknown key {key!r}; use "
                             f"{', '.join(sorted([*RESOURCE_NUMBERS, *RESOURCE_TEXTS]))}")


def parse_batch(doc: dict) -> Batch:
    """Validate a batch document (a dict from JSON) and return the typed :class:`Batch`."""
    if not isinstance(doc, dict):
        raise BatchError("a batch must be a JSON object with 'name', 'level' and 'jobs'")
    level = str(doc.get("level", "subject")).lower()
    if level not in LEVELS:
        raise BatchError(f"batch level must be 'subject' or 'study', got {doc.get('level')!r}")
    raw_jobs = doc.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        raise BatchError("a batch needs a non-empty list 'jobs'")
    jobs = []
    for i, raw in enumerate(raw_jobs, 1):
        if not isinstance(raw, dict):
            raise BatchError(f"job {i}: must be an object")
        name = str(raw.get("name") or f"job{i}")
        where = f"job {i} ({name})"
        kind = str(raw.get("type", "")).lower()
        if kind not in JOB_TYPES:
            raise BatchError(f"{where}: type must be one of {', '.join(JOB_TYPES)}, got {raw.get('type')!r}")
        counters: dict = {}
        args = tuple(_parse_arg(a, f"{where}, argument {k}", counters)
                     for k, a in enumerate(raw.get("args") or [], 1))
        seen = [a.var for a in args]
        dup = {v for v in seen if seen.count(v) > 1}
        if dup:
            raise BatchError(f"{where}: variable(s) {', '.join(sorted(dup))} bound twice")
        if kind == "function":
            fn = str(raw.get("function", "")).strip()
            if not fn:
                raise BatchError(f"{where}: a function job needs 'function' (a registered name "
                                 "or 'package.module:function')")
            from nora_server.batch.functions import missing_args
            lacking = missing_args(fn, {a.var: a.type for a in args})
            if lacking:
                raise BatchError(f"{where}: function {fn} needs {', '.join(lacking)}; add the "
                                 "argument(s)")
            jobs.append(Job(name, kind, function=fn, args=args))
        else:
            code = str(raw.get("code", ""))
            if not code.strip():
                raise BatchError(f"{where}: a {kind} job needs 'code'")
            from nora_server.batch.substitute import referenced_vars
            missing = sorted(referenced_vars(code) - set(seen))
            if missing:
                raise BatchError(f"{where}: the code uses ${', $'.join(missing)} but no argument "
                                 "binds it; add the FILE/OUT/... arguments")
            jobs.append(Job(name, kind, code=code, args=args))
    resources = doc.get("resources") or {}
    if not isinstance(resources, dict):
        raise BatchError("'resources' must be an object (cpus, mem_gb, time_min, partition)")
    check_resources(resources)
    return Batch(str(doc.get("name") or "batch"), level, tuple(jobs), dict(resources))


# -- what the batch tool offers ---------------------------------------------------------------
ARGUMENT_TYPES = (
    {"type": "FILE", "letter": "f", "fields": ["pattern", "study"],
     "doc": "input files: a pattern relative to the study folder (* any run, _ one character) "
            "and a study selector; the job gets the absolute paths of every match"},
    {"type": "OUT", "letter": "o", "fields": ["name", "study"],
     "doc": "an output file name relative to the study folder, optionally 'name TAG(a,b)'; "
            "registered in the archive with its tags after the job succeeds"},
    {"type": "PATHOUT", "letter": "p", "fields": ["name", "study"],
     "doc": "an output folder relative to the study folder (created)"},
    {"type": "STRING", "letter": "s", "fields": ["value"], "doc": "a text"},
    {"type": "OPTION", "letter": "s", "fields": ["value", "choices"],
     "doc": "one of the 'choices'"},
    {"type": "NUMERIC", "letter": "n", "fields": ["value"], "doc": "a number"},
    {"type": "LOGICAL", "letter": "n", "fields": ["value"], "doc": "true/false (1/0 in BASH)"},
)
DEFAULT_TYPE = {"f": "FILE", "o": "OUT", "p": "PATHOUT", "s": "STRING", "n": "NUMERIC"}


def argument_types() -> list[dict]:
    """The argument types with their variable letter and fields (for the batch tool)."""
    return [dict(a) for a in ARGUMENT_TYPES]


def job_kinds() -> list[dict]:
    """The kinds of job: generic BASH and Python (``code`` with ``$f1``-style variables) and the
    registered functions (see :func:`nora_server.batch.functions.catalog`)."""
    from nora_server.batch.functions import catalog
    return [{"type": "bash", "label": "generic BASH", "fields": ["name", "code", "args"],
             "doc": "a BASH script; $f1..$f9, $o1.., $p1.., $s1.., $n1.. become one quoted "
                    "word each (a FILE matching several files: several words); nora is on "
                    "the PATH"},
            {"type": "python", "label": "generic Python", "fields": ["name", "code", "args"],
             "doc": "a Python script; the variables become Python literals (a FILE: one path, "
                    "or a list of paths when it matches several)"},
            {"type": "function", "label": "registered function",
             "fields": ["name", "function", "args"], "functions": catalog()}]


def argument_rows(code: str, args=()) -> list[dict]:
    """The argument rows a generic job's ``code`` needs: ``args`` (dicts as in the batch JSON)
    that bind a variable the code uses, plus a new row (default type by letter: FILE, OUT,
    PATHOUT, STRING, NUMERIC) for every variable no row binds yet, in variable order. Every
    row gets an explicit ``var``. What NORA does when a script mentions ``$f1``."""
    from nora_server.batch.substitute import referenced_vars
    used = referenced_vars(code)
    rows, counters = {}, {}
    for raw in args:
        row = dict(raw)
        kind = str(row.get("type", "")).upper()
        letter = ARG_LETTER.get(kind)
        if letter is None:
            continue
        counters[letter] = counters.get(letter, 0) + 1
        row["type"], row["var"] = kind, str(row.get("var") or f"{letter}{counters[letter]}")
        if row["var"] in used:
            rows.setdefault(row["var"], row)
    for var in used - set(rows):
        rows[var] = {"type": DEFAULT_TYPE[var[0]], "var": var}
        if var[0] == "f":
            rows[var]["pattern"] = ""
        elif var[0] in "op":
            rows[var]["name"] = ""
    order = "fopsn"
    return [rows[v] for v in sorted(rows, key=lambda v: (order.index(v[0]), int(v[1:])))]
