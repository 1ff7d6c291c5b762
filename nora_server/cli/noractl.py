"""``noractl``: administration of a napari-nora site.

    noractl init [ROOT] [--database URL] [--admin NAME]   embedded default: ROOT/nora.sqlite,
                                                          ROOT/storage, and nora.toml
    noractl db upgrade [REVISION] | db current | db downgrade REVISION
    noractl user add NAME [--site-admin]                  bootstrap users without a session
    noractl recover [--force]                             finish/roll back crashed file ops
    noractl status                                        configuration and database state
    noractl demo [--project NAME]                         demo project through DICOM import

Other packages hook their sub-commands into ``main`` (``noractl start|stop|status dicom`` from
``nora_server.cli.dicom_commands``, ``noractl test slurm`` from ``batch_commands``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from nora_server.archive import db
from nora_server.archive.admin import ensure_user
from nora_server.archive.core import Archive
from nora_server.cli.common import Parser, run, setup_logging
from nora_server.config import (ConfigError, Settings, default_config_path, embedded_settings,
                                load_settings, write_settings)


MORE = """\
more commands (each with --help, e.g. noractl test slurm --help):
  noractl start|stop|status dicom   the DICOM node (docs/dicom.md)
  noractl test slurm                check the configured Slurm cluster end to end (docs/batch.md)
  noractl demo                      a demo archive filled through the DICOM import"""


def build_parser() -> Parser:
    p = Parser(prog="noractl", description="napari-nora administration", epilog=MORE,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="nora.toml (default: $NORA_CONFIG or "
                                    "~/.config/nora/nora.toml)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    init = sub.add_parser("init", help="create the configuration, database and storage")
    init.add_argument("root", nargs="?", default=str(Path.home() / "nora"),
                      help="folder for nora.sqlite and storage/ (default ~/nora)")
    init.add_argument("--database", help="use this database URL instead of ROOT/nora.sqlite "
                                         "(e.g. mysql+pymysql://user:pw@host/nora)")
    init.add_argument("--admin", default=None, help="site admin user (default: login name)")
    init.add_argument("--force", action="store_true", help="overwrite an existing nora.toml")
    dbp = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, parser_class=Parser)
    up = dbp.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    dbp.add_parser("current", help="print the current and head revisions")
    down = dbp.add_parser("downgrade", help="revert migrations")
    down.add_argument("revision")
    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command",
                                                                required=True,
                                                                parser_class=Parser)
    add = user.add_parser("add", help="create a user (or make it a site admin)")
    add.add_argument("name")
    add.add_argument("--site-admin", action="store_true")
    rec = sub.add_parser("recover", help="finish or roll back file operations of crashed "
                                         "processes")
    rec.add_argument("--force", action="store_true",
                     help="treat every journal entry as dead (no other nora process running)")
    sub.add_parser("status", help="configuration and database state")
    return p


def cmd_init(a) -> int:
    path = Path(a.config) if a.config else default_config_path()
    if path.exists() and not a.force:
        raise ConfigError(f"{path} exists already: use it, or pass --force to overwrite it")
    settings = embedded_settings(a.root)
    if a.database:
        settings = Settings(database=a.database, storage=settings.storage)
    settings.storage.mkdir(parents=True, exist_ok=True)
    archive = Archive.from_settings(settings, check=False)
    try:
        db.upgrade(archive.engine)
        admin = a.admin or getpass.getuser()
        ensure_user(archive.engine, admin, is_admin=True)
    finally:
        archive.dispose()
    write_settings(settings, path)
    print(f"configuration: {path}\ndatabase: {settings.database}\nstorage: {settings.storage}"
          f"\nsite admin: {admin}")
    return 0


def _archive(a) -> Archive:
    return Archive.from_settings(load_settings(a.config), check=False)


def cmd_db(a) -> int:
    archive = _archive(a)
    try:
        if a.db_command == "upgrade":
            db.upgrade(archive.engine, a.revision)
        elif a.db_command == "downgrade":
            db.downgrade(archive.engine, a.revision)
        print(f"current: {db.current_revision(archive.engine)}  head: {db.head_revision()}")
    finally:
        archive.dispose()
    return 0


def cmd_user(a) -> int:
    archive = _archive(a)
    try:
        db.check_schema(archive.engine)
        ensure_user(archive.engine, a.name, is_admin=a.site_admin)
    finally:
        archive.dispose()
    print(f"user {a.name}{' (site admin)' if a.site_admin else ''} ready")
    return 0


def cmd_recover(a) -> int:
    archive = _archive(a)
    try:
        db.check_schema(archive.engine)
        done = archive.recover(force=a.force)
    finally:
        archive.dispose()
    print(f"recovered {len(done)} operation(s)")
    return 0


def cmd_status(a) -> int:
    settings = load_settings(a.config)
    archive = Archive.from_settings(settings, check=False)
    try:
        cur = db.current_revision(archive.engine)
    finally:
        archive.dispose()
    print(f"configuration: {settings.path}\ndatabase: {settings.database}\n"
          f"storage: {settings.storage}\nschema: {cur} (head {db.head_revision()})")
    return 0


def _main(argv) -> int:
    a = build_parser().parse_args(argv)
    setup_logging(a.verbose, "noractl")
    return {"init": cmd_init, "db": cmd_db, "user": cmd_user, "recover": cmd_recover,
            "status": cmd_status}[a.command](a)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:  # "noractl demo" lives in nora_server/demo.py (numpy, pydicom)
        from nora_server.demo import noractl_demo

        return noractl_demo(argv)
    # --- DICOM hook (issue 6): "start|stop|status dicom" live in cli/dicom_commands.py ---
    from nora_server.cli.dicom_commands import noractl_dicom

    handled = noractl_dicom(argv)
    if handled is not None:
        return handled
    # --- end DICOM hook ---
    # --- batch hook (issue 7): "noractl test slurm" lives in cli/batch_commands.py ---
    from nora_server.cli import batch_commands

    if batch_commands.handles_noractl(argv):
        return run("noractl", batch_commands.noractl_main, argv)
    # --- end batch hook ---
    return run("noractl", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
