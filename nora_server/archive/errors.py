"""Archive errors: each message says what was wrong with which input and what to do."""

from __future__ import annotations


class ArchiveError(Exception):
    """A request the archive cannot carry out (bad name, missing file, conflict...)."""


class NotFound(ArchiveError):
    """A project, subject, study, file or user that does not exist (or is not visible)."""


class AlreadyExists(ArchiveError):
    """A file (or project, user) that is there already and is not to be replaced."""


class PermissionDenied(ArchiveError):
    """The user's role does not allow the operation."""


class FilterError(ArchiveError):
    """A filter-bar expression that cannot be parsed."""
