"""Registered Python job functions.

A function job calls ``fn(ctx)`` with a :class:`JobContext`. Register with
``@register("name")``; a job may also name any importable ``package.module:function``. Job code
must live in an installed package: functions defined in a test module or a notebook are not
importable inside a Slurm job.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
_REGISTRY: dict = {}


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


def register(name: str):
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def lookup(name: str):
    """The function registered as ``name`` or importable as ``package.module:function``."""
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


@register("nora.copy")
def copy(ctx: JobContext):
    """Copy the first file of $f1 to $o1."""
    shutil.copyfile(ctx.f[1][0], ctx.o[1])
    return ctx.o[1]


@register("nora.sleep")
def sleep(ctx: JobContext):
    """Sleep $n1 seconds (for tests and cluster checks)."""
    time.sleep(float(ctx.n.get(1, 1)))
    return ctx.n.get(1, 1)


@register("nora.fail")
def fail(ctx: JobContext):
    """Always fails with the message $s1 (for tests and cluster checks)."""
    raise RuntimeError(ctx.s.get(1) or "nora.fail was asked to fail")


@register("nora.hostname")
def hostname(ctx: JobContext):
    """Return the host the job ran on (for ``noractl test slurm``)."""
    import socket
    return socket.gethostname()
