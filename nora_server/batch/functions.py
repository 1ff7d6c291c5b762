"""Registered Python job functions.

A function job calls ``fn(ctx)`` with a :class:`JobContext`. Register with
``@register("name", args=[...])``: ``args`` are the function's arguments as templates (what
the batch tool shows as rows; the job binds them in this order, so the first FILE is ``$f1``)::

    @register("mylab.skullstrip", args=[
        {"type": "FILE", "label": "T1 image", "pattern": "t1*/s0*.nii"},
        {"type": "OUT", "label": "brain mask", "name": "seg/brainmask.nii TAG(mask)"},
        {"type": "NUMERIC", "label": "threshold", "value": 0.5, "optional": True}])
    def skullstrip(ctx):
        ...  # ctx.f[1] (list of paths), ctx.o[1] (path), ctx.n.get(1, 0.5)

Functions of other installed packages are found through the entry-point group
``nora_server.batch_functions`` (each entry names a module whose ``@register`` calls run when
it is imported). A job may also name any importable ``package.module:function``. Job code must
live in an installed package: functions defined in a test module or a notebook are not
importable inside a Slurm job.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import time
from dataclasses import dataclass, field

from nora_server.batch.model import ARG_LETTER

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nora_server.batch_functions"
_REGISTRY: dict = {}
_SPECS: dict = {}
_plugins_loaded = False


@dataclass
class JobContext:
    """Resolved arguments by letter and number: ``ctx.f[1]`` (list of paths), ``ctx.o[1]``,
    ``ctx.p[1]``, ``ctx.s[1]``, ``ctx.n[1]``; plus the target's project, subject and study."""
    project: str
    subject: str
    study: str | None
    f: dict = field(default_factory=dict)
    o: dict = field(default_factory=dict)
    p: dict = field(default_factory=dict)
    s: dict = field(default_factory=dict)
    n: dict = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: dict, *, project: str, subject: str, study: str | None):
        ctx = cls(project, subject, study)
        for var, value in values.items():
            getattr(ctx, var[0])[int(var[1:])] = value
        return ctx


def _with_vars(args) -> tuple[dict, ...]:
    counters: dict = {}
    out = []
    for a in args:
        a = dict(a)
        kind = str(a.get("type", "")).upper()
        if kind not in ARG_LETTER:
            raise ValueError(f"argument template {a}: unknown type {a.get('type')!r}")
        letter = ARG_LETTER[kind]
        counters[letter] = counters.get(letter, 0) + 1
        a["type"], a["var"] = kind, a.get("var") or f"{letter}{counters[letter]}"
        out.append(a)
    return tuple(out)


def register(name: str, *, args=(), doc: str | None = None):
    """Register ``fn(ctx)`` as the job function ``name`` with its argument templates."""
    def deco(fn):
        _REGISTRY[name] = fn
        _SPECS[name] = {"name": name, "doc": (doc or fn.__doc__ or "").strip(),
                        "args": _with_vars(args)}
        return fn
    return deco


def load_plugins() -> None:
    """Import the modules other packages list under ``nora_server.batch_functions`` (once)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - one broken plug-in must not hide the others
            log.error("job functions of %s (%s) could not be loaded: %s", ep.name, ep.value, exc)


def catalog() -> list[dict]:
    """Every registered function: ``{"name", "doc", "args": [templates with "var"]}``."""
    load_plugins()
    return [{**s, "args": [dict(a) for a in s["args"]]} for _, s in sorted(_SPECS.items())]


def missing_args(name: str, bound: dict[str, str]) -> list[str]:
    """Required arguments of the registered function ``name`` that ``bound`` (``{var: TYPE}``)
    lacks or binds with another type, as ``"FILE $f1 (T1 image)"``; [] when unknown."""
    if name not in _SPECS:  # plug-ins are looked for only for a name not registered yet
        load_plugins()
    s = _SPECS.get(name)
    if s is None:
        return []
    out = []
    for a in s["args"]:
        if a.get("optional"):
            continue
        have = bound.get(a["var"])
        if have is None or ARG_LETTER[have] != ARG_LETTER[a["type"]]:
            label = f" ({a['label']})" if a.get("label") else ""
            out.append(f"{a['type']} ${a['var']}{label}")
    return out


def lookup(name: str):
    """The function registered as ``name`` or importable as ``package.module:function``."""
    if name not in _REGISTRY:
        load_plugins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"job function {name!r} cannot be imported: {exc}") from None
    raise LookupError(f"no job function registered as {name!r}; registered: "
                      f"{', '.join(sorted(_REGISTRY))}")


@register("nora.copy", args=[{"type": "FILE", "label": "file to copy"},
                             {"type": "OUT", "label": "copy"}])
def copy(ctx: JobContext):
    """Copy the first file of $f1 to $o1."""
    shutil.copyfile(ctx.f[1][0], ctx.o[1])
    return ctx.o[1]


@register("nora.sleep", args=[{"type": "NUMERIC", "label": "seconds", "value": 1,
                               "optional": True}])
def sleep(ctx: JobContext):
    """Sleep $n1 seconds (for tests and cluster checks)."""
    time.sleep(float(ctx.n.get(1, 1)))
    return ctx.n.get(1, 1)


@register("nora.fail", args=[{"type": "STRING", "label": "message", "value": "",
                              "optional": True}])
def fail(ctx: JobContext):
    """Always fails with the message $s1 (for tests and cluster checks)."""
    raise RuntimeError(ctx.s.get(1) or "nora.fail was asked to fail")


@register("nora.hostname")
def hostname(ctx: JobContext):
    """Return the host the job ran on (for ``noractl test slurm``)."""
    import socket
    return socket.gethostname()
