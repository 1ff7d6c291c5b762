"""What ``nora`` and ``noractl`` share: error reporting, logging set-up, output helpers."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from datetime import date, datetime

from sqlalchemy.exc import DBAPIError

from nora_server.archive.db import DatabaseError
from nora_server.archive.errors import ArchiveError
from nora_server.config import ConfigError

USER_ERRORS = (ArchiveError, ConfigError, DatabaseError)


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return the code."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message}\n(see '{self.prog} --help')")


class UsageError(Exception):
    pass


def setup_logging(verbose: bool, prog: str) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format=f"{prog}: %(message)s", force=True)


def run(prog: str, fn, argv) -> int:
    """Call ``fn(argv)``; turn expected errors into a message on stderr and exit code."""
    try:
        return fn(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(f"{prog}: error: database error: {exc.orig}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _json_default(v):
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def to_json(obj) -> str:
    return json.dumps(obj, indent=1, default=_json_default, ensure_ascii=False)


def to_csv(columns, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([[_json_default(c) if isinstance(c, (date, datetime, bytes)) else c
                  for c in r] for r in rows])
    return buf.getvalue()


def progress_bar(total: int | None, desc: str):
    """A tqdm bar on stderr (hidden when stderr is not a terminal); returns an update callable
    and the bar (close it when done)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="file", disable=None, file=sys.stderr)
    return bar.update, bar
