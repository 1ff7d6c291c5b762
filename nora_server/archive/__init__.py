"""The archive: projects, subjects, studies, tagged files, filters and rights.

Usage::

    from nora_server.archive import connect
    s = connect()                        # nora.toml from $NORA_CONFIG or ~/.config/nora
    s.select_files("demo", "t1*/s0*.nii")

See docs/archive.md.
"""

from nora_server.archive.core import Archive, connect
from nora_server.archive.errors import ArchiveError, FilterError, NotFound, PermissionDenied
from nora_server.archive.files import AddItem
from nora_server.archive.records import FileInfo, ProjectInfo, StudyRow, TablePage, UserInfo

__all__ = ["Archive", "connect", "ArchiveError", "FilterError", "NotFound", "PermissionDenied",
           "AddItem", "FileInfo", "ProjectInfo", "StudyRow", "TablePage", "UserInfo"]
