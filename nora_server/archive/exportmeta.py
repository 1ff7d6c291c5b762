"""``nora --exportmeta``: JSON metadata of many studies as one CSV table.

A key sequence is a dot-separated list of keys; the first key is the JSON file's name without
``.json`` (several JSON files may match the file pattern), the rest walk into the document.
``*`` (any run) and ``_`` (one character) are wildcards at every level; list items are
addressed by their index. Without keys, every leaf of every matching file is exported.

>>> flatten({"mask": {"volume": 3, "diameter": 2}, "id": "a"}, "radio1", ["*", "mask", "vol*"])
{'radio1.mask.volume': 3}
"""

from __future__ import annotations

import csv
import io
import json
import logging

from nora_server.archive.errors import ArchiveError
from nora_server.archive.patterns import matches

log = logging.getLogger(__name__)


def _children(node):
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return [(str(i), v) for i, v in enumerate(node)]
    return []


def flatten(doc, name: str, keys: list[str] | None = None, prefix: str | None = None) -> dict:
    """Values of ``doc`` (JSON file ``name``) at the key sequence ``keys`` (all leaves if
    None), as ``{"name.k1.k2": value}``."""
    out: dict = {}
    if prefix is None:
        if keys is not None:
            if not keys or not matches(keys[0], name):
                return out
            keys = keys[1:]
        prefix = name
    if keys is not None and not keys:
        out[prefix] = doc
        return out
    for k, v in _children(doc):
        if keys is None:
            if _children(v):
                out.update(flatten(v, name, None, f"{prefix}.{k}"))
            else:
                out[f"{prefix}.{k}"] = v
        elif matches(keys[0], k):
            out.update(flatten(v, name, keys[1:], f"{prefix}.{k}"))
    return out


def _cell(v):
    return json.dumps(v) if isinstance(v, (dict, list)) else v


def export_meta(session, project: str, selector: str, json_pattern: str,
                keys: list[str] | None = None) -> str:
    """CSV text: one row per study (``subject``, ``study``, then one column per exported key)
    for the studies matching ``selector`` (``"*"``, ``"P00*"``, ``"P001#S*"``)."""
    seqs = [k.strip().split(".") for k in keys if k.strip()] if keys else None
    if seqs is not None and not seqs:
        raise ArchiveError("--keys is empty: give key sequences like '*.mask.volume'")
    ref = selector if selector not in ("", "*") else None
    rows: dict[tuple[str, str], dict] = {}
    found: set[int] = set()  # the key sequences that gave a value
    read = 0
    for info in session.select_files(project, json_pattern, ref=ref):
        name = info.path.rpartition("/")[2]
        name = name[:-5] if name.lower().endswith(".json") else name
        try:
            doc = json.loads(info.abspath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping %s: %s", info.abspath, exc)
            continue
        read += 1
        row = rows.setdefault((info.subject, info.study), {})
        for i, seq in enumerate(seqs or [None]):
            values = flatten(doc, name, seq)
            row.update(values)
            if values:
                found.add(i)
    if not read:
        log.warning("no readable JSON file matches %r in the studies %r selects", json_pattern,
                    selector)
    for i, seq in enumerate(seqs or []):  # a misspelt key is said, not an absent column
        if read and i not in found:
            log.warning("key sequence %r matched nothing in the %d JSON file(s)", ".".join(seq),
                        read)
    columns = list(dict.fromkeys(k for r in rows.values() for k in r))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["subject", "study", *columns])
    for (pid, sid), r in sorted(rows.items()):
        w.writerow([pid, sid, *(_cell(r.get(c, "")) for c in columns)])
    return buf.getvalue()
