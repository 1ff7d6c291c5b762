"""``nora``: NORA-compatible data command line (also used inside batch jobs).

Examples::

    nora -p demo -s 't1*/s0*.nii'                 # absolute paths, one per line
    nora -p demo -s 'P001#S1/t1*/s0*.nii' --json  # {"P001#S1": [paths]}
    nora -a /storage/demo/P001/S1/seg/mask.nii --addtag seg,auto   # index a job's output
    nora -p demo -a ./scan.nii --to P001#S1/t1    # copy a file in, then index it
    nora -p demo --addtag good -s 't1*/s0*.nii'   # tag the selected files
    nora -p demo -o 'P001#S1/t1*/brainmask.nii'   # where an output goes
    nora -p demo --exportmeta '*' 'META/radio*.json' --keys '*.mask.volume'
    nora -q 'SELECT name FROM projects' --csv      # site admins, read-only

The user is ``$NORA_USER`` (else the login name); the configuration ``$NORA_CONFIG`` (else
``~/.config/nora/nora.toml``). Errors print one message and exit non-zero; nothing is left
half-done.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nora_server.archive.core import Archive
from nora_server.archive.errors import ArchiveError
from nora_server.archive.files import AddItem
from nora_server.archive.selection import parse_file_ref
from nora_server.archive.tags import split_tags
from nora_server.cli.common import Parser, UsageError, progress_bar, run, setup_logging, to_csv, \
    to_json
from nora_server.config import load_settings

ACTIONS = ("sql", "add", "delete", "del_pat", "out", "pathout", "select", "createproject",
           "exportmeta", "admin", "rescan")


def build_parser() -> Parser:
    p = Parser(prog="nora", description="NORA-compatible data command line",
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="file patterns: * any run of characters, _ exactly one; relative to the\n"
                      "study folder, optionally after PID#SID/ (see docs/cli.md)\n\n"
                      "more commands (each with --help, e.g. nora -p P --import . --help):\n"
                      "  nora -p P --import PATH ...   DICOM folders, zips (docs/dicom.md)\n"
                      "  nora pacs echo|find|pull|send  query/retrieve and send (docs/dicom.md)\n"
                      "  nora -p P --launch JSON | --launchfile FILE | --launch_autoexec PSID\n"
                      "                                run batches (docs/batch.md)\n"
                      "  nora jobs ...                 list, kill, re-run jobs, show logs")
    p.add_argument("-p", "--project", help="all commands refer to this project")
    p.add_argument("--config", help="nora.toml to use (default: $NORA_CONFIG or "
                                    "~/.config/nora/nora.toml)")
    p.add_argument("-v", "--verbose", action="store_true")
    g = p.add_argument_group("management")
    g.add_argument("-q", "--sql", metavar="STATEMENT",
                   help="run one read-only SQL statement (site admins); JSON output")
    g.add_argument("--csv", action="store_true", help="with -q: CSV output")
    g.add_argument("-a", "--add", nargs="+", metavar="FILE",
                   help="add files: inside a project folder they are indexed in place, "
                        "others are copied to --to PID#SID[/folder]")
    g.add_argument("--to", metavar="PID#SID[/FOLDER]", help="with -a: where copied files go")
    g.add_argument("--overwrite", action="store_true", help="with -a --to: replace files")
    g.add_argument("--addtag", metavar="TAGS", help="tags (t1,t2) for -a, or for the -s files")
    g.add_argument("--rmtag", metavar="TAGS", help="remove tags from the -s files")
    g.add_argument("-d", "--del", dest="delete", nargs="+", metavar="FILE",
                   help="delete files (index entry and file): paths or PID#SID/path")
    g.add_argument("-dp", "--del_pat", nargs="+", metavar="PID[#SID]",
                   help="delete subjects or studies with their folders")
    g.add_argument("-o", "--out", metavar="PID#SID/PATTERN",
                   help="absolute output file path (creates its folder)")
    g.add_argument("-pa", "--pathout", metavar="PID#SID/PATTERN",
                   help="absolute output folder path (creates it)")
    g.add_argument("-s", "--select", metavar="PATTERN", help="files matching PATTERN")
    g.add_argument("-j", "--json", action="store_true", help="with -s: JSON grouped by study")
    g.add_argument("--byfilename", action="store_true", help="with -s --json: group by name")
    g.add_argument("-c", "--createproject", nargs="+", metavar=("NAME", "MODULE"),
                   help="create project NAME [from MODULE definition]")
    g.add_argument("--from", dest="from_folder", metavar="FOLDER",
                   help="with -c: index this existing folder tree as the project")
    g.add_argument("--rescan", action="store_true",
                   help="index files that appeared in the project folder")
    o = p.add_argument_group("other")
    o.add_argument("--exportmeta", nargs=2, metavar=("SELECTOR", "JSONPATTERN"),
                   help="export JSON metadata of the selected studies as CSV")
    o.add_argument("--keys", help="with --exportmeta: key sequences k1.k2,*.mask.volume")
    o.add_argument("--admin", nargs=argparse.REMAINDER,
                   help="users, projects, rights (nora --admin help)")
    return p


def _action(a) -> str:
    given = [n for n in ACTIONS if getattr(a, n) not in (None, False)]
    if not given and (a.addtag or a.rmtag):
        raise UsageError("nora: error: --addtag/--rmtag need -s PATTERN (or -a FILE)")
    if len(given) != 1:
        raise UsageError("nora: error: give exactly one of -q, -a, -d, -dp, -o, -pa, -s, -c, "
                         f"--exportmeta, --admin, --rescan (got {len(given)}; see nora --help)")
    for option, flag, allowed in OPTIONS:
        if getattr(a, option) not in (None, False) and given[0] not in allowed:
            raise UsageError(f"nora: error: {flag} goes with "
                             + " or ".join(FLAG_OF[x] for x in allowed) + " (see nora --help)")
    return given[0]


FLAG_OF = {"sql": "-q", "add": "-a", "select": "-s", "createproject": "-c",
           "exportmeta": "--exportmeta"}
OPTIONS = [  # (dest, flag, actions it modifies): given elsewhere it is an error, not ignored
    ("csv", "--csv", ("sql",)), ("to", "--to", ("add",)), ("overwrite", "--overwrite", ("add",)),
    ("addtag", "--addtag", ("add", "select")), ("rmtag", "--rmtag", ("select",)),
    ("json", "--json", ("select",)), ("byfilename", "--byfilename", ("select",)),
    ("from_folder", "--from", ("createproject",)), ("keys", "--keys", ("exportmeta",)),
]


def _need_project(a) -> str:
    if not a.project:
        raise UsageError("nora: error: this command needs -p PROJECT")
    return a.project


SELECT_FLAGS = ("--json", "-j", "--byfilename")


def nora_order(argv: list[str]) -> list[str]:
    """Accept NORA's order ``-s [--json] [--byfilename] PATTERN``: flags written between
    ``-s`` and its pattern are moved behind the pattern."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg in ("-s", "--select"):
            j = i + 1
            while j < len(argv) and argv[j] in SELECT_FLAGS:
                j += 1
            if j > i + 1 and j < len(argv):
                argv[i + 1:j + 1] = [argv[j], *argv[i + 1:j]]
            break
    return argv


def _main(argv) -> int:
    if not argv:  # as NORA: "call nora and get help"
        build_parser().print_help()
        return 0
    a = build_parser().parse_args(nora_order(argv))
    setup_logging(a.verbose, "nora")
    action = _action(a)
    if action == "admin" and (not a.admin or a.admin[0] in ("help", "-h", "--help")):
        from nora_server.cli.admin import HELP

        print(HELP, end="")
        return 0
    archive = Archive.from_settings(load_settings(a.config))
    try:
        session = archive.session()
        if action in ("add", "delete", "del_pat", "createproject", "rescan"):
            archive.recover()
        return ACTION_FUNCS[action](session, a)
    finally:
        archive.dispose()


def do_sql(s, a) -> int:
    from nora_server.archive.sql import readonly_sql

    cols, rows = readonly_sql(s, a.sql)
    print(to_csv(cols, rows) if a.csv else to_json([dict(zip(cols, r)) for r in rows]),
          end="" if a.csv else "\n")
    return 0


def do_add(s, a) -> int:
    tags = split_tags(a.addtag or "")
    if a.to:
        project = _need_project(a)
        ref, folder = parse_file_ref(a.to) if "/" in a.to else (a.to, "")
        ref = ref or a.to
        items = [AddItem(Path(f), ref, f"{folder}/{Path(f).name}" if folder else Path(f).name)
                 for f in a.add]
        infos = s.add_files(project, items, tags=tags, overwrite=a.overwrite)
    else:
        for f in a.add:
            try:
                project = s.resolve_path(f)[0]
            except ArchiveError as exc:
                raise ArchiveError(f"{exc}; to copy a file into the archive give "
                                   "-p PROJECT --to PID#SID[/folder]") from None
            if a.project and project.lower() != a.project.lower():
                raise ArchiveError(f"{f} lies in project {project!r}, not in -p {a.project!r}")
        infos = s.index_files(a.add, tags=tags)
    for i in infos:
        print(i.abspath)
    return 0


def do_delete(s, a) -> int:
    n = s.delete_files(a.delete, project=a.project)
    print(f"deleted {n} file(s)", file=sys.stderr)
    return 0


def do_del_pat(s, a) -> int:
    n = s.delete_refs(_need_project(a), a.del_pat)
    print(f"deleted {n} subject(s)/study(ies)", file=sys.stderr)
    return 0


def _out(s, a, pattern: str, folder: bool) -> int:
    ref, rel = parse_file_ref(pattern)
    if ref is None:
        raise UsageError(f"nora: error: {pattern!r} needs a study reference: PID#SID/path "
                         "(or PID#/path for the subject folder)")
    print(s.output_location(_need_project(a), ref, rel, folder=folder))
    return 0


def do_out(s, a) -> int:
    return _out(s, a, a.out, False)


def do_pathout(s, a) -> int:
    return _out(s, a, a.pathout, True)


def do_select(s, a) -> int:
    project = _need_project(a)
    if a.byfilename and not a.json:
        raise UsageError("nora: error: --byfilename goes with --json (-s --json --byfilename "
                         "PATTERN)")
    if (a.json or a.byfilename) and (a.addtag or a.rmtag):
        raise UsageError("nora: error: --json/--byfilename print a selection; --addtag/--rmtag "
                         "tag it: give one or the other")
    if a.addtag or a.rmtag:  # both checked before either is applied: nothing half-done
        add, remove = split_tags(a.addtag or ""), split_tags(a.rmtag or "")
        if set(map(str.lower, add)) & set(map(str.lower, remove)):
            raise UsageError("nora: error: the same tag is given to --addtag and --rmtag")
    files = s.select_files(project, a.select)
    if a.addtag or a.rmtag:
        if not files:
            raise ArchiveError(f"no files match {a.select!r} in project {project!r}: "
                               "nothing tagged")
        if add:
            s.tag_files(files, add)
        if remove:
            s.tag_files(files, remove, remove=True)
        print(f"{len(files)} file(s) tagged", file=sys.stderr)
        return 0
    if a.json:
        out: dict = {}
        for f in files:
            key = f.path.rpartition("/")[2] if a.byfilename else f.ref
            out.setdefault(key, []).append(f.location)
        print(to_json(out))
    elif files:
        print("\n".join(f.location for f in files))
    return 0


def do_createproject(s, a) -> int:
    name, module = a.createproject[0], (a.createproject[1] if len(a.createproject) > 1 else None)
    if len(a.createproject) > 2:
        raise UsageError("nora: error: -c takes NAME [MODULE]")
    if a.from_folder:
        update, bar = progress_bar(None, f"indexing {a.from_folder}")
        try:
            rep = s.create_project_from_folder(name, a.from_folder, module=module,
                                               progress=update)
        finally:
            bar.close()
        for skipped in rep.skipped:
            print(f"nora: skipped {skipped}", file=sys.stderr)
        print(f"created project {name}: {rep.subjects} subjects, {rep.studies} studies, "
              f"{rep.files} files")
    else:
        s.create_project(name, module=module)
        print(f"created project {name}")
    return 0


def do_rescan(s, a) -> int:
    update, bar = progress_bar(None, "indexing")
    try:
        rep = s.rescan(_need_project(a), progress=update)
    finally:
        bar.close()
    print(f"indexed {rep.subjects} new subjects, {rep.studies} studies, {rep.files} files")
    return 0


def do_exportmeta(s, a) -> int:
    from nora_server.archive.exportmeta import export_meta

    keys = [k for k in a.keys.split(",")] if a.keys else None
    print(export_meta(s, _need_project(a), a.exportmeta[0], a.exportmeta[1], keys), end="")
    return 0


def do_admin(s, a) -> int:
    from nora_server.cli.admin import run_admin

    return run_admin(s, a.admin, print)


ACTION_FUNCS = {"sql": do_sql, "add": do_add, "delete": do_delete, "del_pat": do_del_pat,
                "out": do_out, "pathout": do_pathout, "select": do_select,
                "createproject": do_createproject, "rescan": do_rescan,
                "exportmeta": do_exportmeta, "admin": do_admin}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # --- DICOM hook (issue 6): --import and "nora pacs" live in cli/dicom_commands.py ---
    from nora_server.cli.dicom_commands import nora_dicom

    handled = nora_dicom(argv)
    if handled is not None:
        return handled
    # --- end DICOM hook ---
    # --- batch hook (issue 7): --launch*, "nora jobs" live in cli/batch_commands.py ---
    from nora_server.cli import batch_commands

    if batch_commands.handles_nora(argv):
        return run("nora", batch_commands.nora_main, argv)
    # --- end batch hook ---
    return run("nora", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
