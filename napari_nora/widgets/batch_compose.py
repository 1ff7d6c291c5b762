"""The batch tool's logic, without Qt: argument rows from a job's code, the job menu, file
previews per subject, and the batch runner of a desktop.

A generic BASH or Python job gets one argument row per ``$f1``, ``$o1``, ``$p1``, ``$s1``,
``$n1`` its code refers to, as in NORA::

    >>> code_vars("cp $f1 $o1 && echo $n1")
    ['f1', 'o1', 'n1']
    >>> default_arg("o1")
    {'type': 'OUT', 'var': 'o1', 'name': '', 'study': ''}

Arguments are the dicts of the batch document (:mod:`nora_server.batch.model`), each with its
``var``; :func:`nora_server.batch.model.parse_batch` validates the finished batch.
"""

from __future__ import annotations

import dataclasses
import re
import weakref

from nora_server.batch.substitute import referenced_vars

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
    return sorted(referenced_vars(code), key=var_key)


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
    from nora_server.batch import functions

    if hasattr(functions, "catalog"):  # the registry's own listing, where it has one
        entries = {e["name"]: e.get("doc") or "" for e in functions.catalog()}
    else:  # no public listing yet: read the registry, never change it
        entries = {n: fn.__doc__ or "" for n, fn in functions._REGISTRY.items()}
    return {name: (doc.strip().splitlines() or [""])[0] for name, doc in sorted(entries.items())}


def function_vars(name: str) -> list[str]:
    """Variables a registered function documents (``"Copy $f1 to $o1"`` -> f1, o1)."""
    from nora_server.batch.functions import lookup

    return code_vars(lookup(name).__doc__ or "")


def function_args(name: str) -> list[dict]:
    """The arguments a registered function takes: its argument templates where the registry
    has them, else one per variable its docstring names."""
    from nora_server.batch import functions

    spec = functions.spec(name) if hasattr(functions, "spec") else None
    if spec and spec.get("args"):
        out = []
        for t in spec["args"]:
            arg = default_arg(t["var"], t["type"])
            arg.update({k: t[k] for k in ("pattern", "name", "study", "value", "choices")
                        if k in t})
            out.append(arg)
        return out
    return [default_arg(v) for v in function_vars(name)]


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
    """What one FILE pattern matches for one target (subject, or subject/study)."""

    target: str
    files: tuple[str, ...] = ()   # "STUDY/relative/path"
    error: str = ""


def targets_for(session, project: str, refs, level: str, *, limit: int | None = None):
    """Batch targets for the selected refs (``PID`` or ``PID#SID``), at most ``limit``."""
    from nora_server.batch.archive_link import archive_targets

    refs = list(refs)
    targets = archive_targets(session, project, level=level, refs=refs)
    return targets[:limit] if limit else targets


def preview(session, project: str, targets, pattern: str, selector: str, level: str) -> list:
    """The files ``pattern`` matches in the studies ``selector`` picks, per target: exactly
    what the job will see (the runner's own selection and matching, on the file index)."""
    from nora_server.batch.resolve import MissingInputError, match_files, select_studies

    out = []
    pattern = pattern.strip()
    for t in targets:
        if not pattern:
            out.append(Preview(t.label, error="no pattern"))
            continue
        try:
            studies = select_studies(t, selector, level=level)
        except MissingInputError as exc:
            out.append(Preview(t.label, error=str(exc)))
            continue
        if not studies:
            out.append(Preview(t.label, error=f"no study for selector {selector or 'default'!r}"))
            continue
        by_study: dict[str, list[str]] = {}
        for f in session.select_files(project, "*", ref=t.subject):
            if f.subject.lower() == t.subject.lower():
                by_study.setdefault(f.study.lower(), []).append(f.path)
        found = [f"{s.id}/{p}" for s in studies
                 for p in match_files(pattern, by_study.get(s.id.lower(), []))]
        out.append(Preview(t.label, tuple(found),
                           "" if found else "no match in " + ", ".join(s.id for s in studies)))
    return out


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


# -- the runner of a desktop --------------------------------------------------------------------
_RUNNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_settings(context) -> dict:
    """The ``[batch]`` section of the desktop's nora.toml (empty without settings)."""
    settings = getattr(context, "settings", None)
    return dict((settings.sections if settings else {}).get("batch") or {})


def runner_for(context, executor: str | None = None):
    """The :class:`~nora_server.batch.service.BatchRunner` of ``context`` for ``executor``
    (``local`` or ``slurm``; default: ``[batch] executor``), built once per context."""
    from nora_server.cli.batch_commands import make_runner
    from nora_server.config import Settings

    section = batch_settings(context)
    kind = executor or section.get("executor", "local")
    cache = _RUNNERS.setdefault(context, {})
    if kind not in cache:
        session = context.session
        settings = context.settings or Settings(
            database=session.engine.url.render_as_string(hide_password=False),
            storage=session.archive.storage)
        settings = dataclasses.replace(settings, sections={**settings.sections,
                                                           "batch": {**section, "executor": kind}})
        cache[kind] = make_runner(settings, session.archive, session)
    return cache[kind]


def resources_text(res: dict) -> str:
    parts = [f"{k}={v}" for k, v in res.items() if v not in (None, "")]
    return ", ".join(parts) or "defaults"


_BAD_NAME = re.compile(r"[\\/:*?\"<>|]")


def json_name(name: str) -> str:
    """A file name for a batch exported as JSON."""
    return (_BAD_NAME.sub("_", name.strip()) or "batch") + ".json"
