"""Who may do what: roles per project, plus the site admin.

========  ====  ========  =====  ======
action    read  identity  write  manage
========  ====  ========  =====  ======
reader     x
member     x       x        x
owner      x       x        x      x
admin      x       x        x      x
========  ====  ========  =====  ======

- ``read``: see the project, its subjects (by pseudonym), studies, files, tags, metadata;
- ``identity``: see and filter by the real patient ID, name and birth date;
- ``write``: add/delete files, subjects and studies, tags, metadata documents;
- ``manage``: grant and revoke rights on the project, rename or delete it.

Site-wide actions (create projects and users, raw read-only SQL) need the site admin.
"""

from __future__ import annotations

from nora_server.archive.errors import PermissionDenied

ACTIONS = ("read", "identity", "write", "manage")
ROLE_ACTIONS = {
    "reader": frozenset({"read"}),
    "member": frozenset({"read", "identity", "write"}),
    "owner": frozenset({"read", "identity", "write", "manage"}),
    "admin": frozenset(ACTIONS),
}
WHY = {
    "read": "needs a role on the project (reader, member or owner)",
    "identity": "shows real patient identities only to members and owners",
    "write": "changes data only for members and owners (readers may only read)",
    "manage": "is managed by its owners and the site admins",
}


def allowed(role: str | None, action: str) -> bool:
    return role is not None and action in ROLE_ACTIONS[role]


def require(role: str | None, action: str, project: str, user: str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` allows ``action`` on ``project``."""
    if not allowed(role, action):
        raise PermissionDenied(
            f"user {user!r} may not {action} project {project!r}: the project {WHY[action]}; "
            "ask an owner of the project or a site admin for a role")
