"""``nora --admin ...``: users, projects and rights (through the archive's rights checks)."""

from __future__ import annotations

from nora_server.cli.common import Parser, to_json

HELP = """\
nora --admin user list
nora --admin user add NAME [--site-admin] [--full-name TEXT] [--email ADDR]
nora --admin user del NAME
nora --admin user admin NAME [--off]          make NAME a site admin (or not)
nora --admin project list
nora --admin project del NAME                 deletes the project's index and its folder
nora --admin grant USER PROJECT owner|member|reader
nora --admin revoke USER PROJECT
nora --admin rights PROJECT
"""


def build_parser() -> Parser:
    p = Parser(prog="nora --admin", description="users, projects and rights",
               epilog=HELP, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True, parser_class=Parser)
    user = sub.add_parser("user").add_subparsers(dest="action", required=True,
                                                 parser_class=Parser)
    user.add_parser("list")
    add = user.add_parser("add")
    add.add_argument("name")
    add.add_argument("--site-admin", action="store_true")
    add.add_argument("--full-name", default="")
    add.add_argument("--email", default="")
    user.add_parser("del").add_argument("name")
    adm = user.add_parser("admin")
    adm.add_argument("name")
    adm.add_argument("--off", action="store_true")
    proj = sub.add_parser("project").add_subparsers(dest="action", required=True,
                                                    parser_class=Parser)
    proj.add_parser("list")
    proj.add_parser("del").add_argument("name")
    grant = sub.add_parser("grant")
    for a in ("user", "project", "role"):
        grant.add_argument(a)
    revoke = sub.add_parser("revoke")
    revoke.add_argument("user")
    revoke.add_argument("project")
    sub.add_parser("rights").add_argument("project")
    return p


def run_admin(session, argv: list[str], out) -> int:
    """Carry out one ``--admin`` command with ``session``; write results to ``out``."""
    a = build_parser().parse_args(argv)
    if a.what == "user":
        if a.action == "list":
            out(to_json([u.__dict__ for u in session.users()]))
        elif a.action == "add":
            session.create_user(a.name, full_name=a.full_name, email=a.email,
                                is_admin=a.site_admin)
            out(f"added user {a.name}")
        elif a.action == "del":
            session.delete_user(a.name)
            out(f"deleted user {a.name}")
        else:
            session.set_admin(a.name, not a.off)
            out(f"{a.name} is {'no longer ' if a.off else ''}a site admin")
    elif a.what == "project":
        if a.action == "list":
            out(to_json([{"name": p.name, "description": p.description, "module": p.module,
                          "role": p.role, "root": str(p.root)} for p in session.projects()]))
        else:
            session.delete_project(a.name)
            out(f"deleted project {a.name}")
    elif a.what == "grant":
        session.grant(a.user, a.project, a.role)
        out(f"{a.user} is {a.role} of {a.project}")
    elif a.what == "revoke":
        session.revoke(a.user, a.project)
        out(f"{a.user} has no role on {a.project} any more")
    else:
        out(to_json(session.rights(a.project)))
    return 0
