"""The archive: projects, subjects, studies, tagged files, filters and rights.

Usage::

    from nora_server.archive import connect
    s = connect()                        # nora.toml from $NORA_CONFIG or ~/.config/nora
    s.select_files("demo", "t1*/s0*.nii")

See docs/archive.md.
"""

import importlib

# names exported here, by module: loaded on first use, so that importing a light part of the
# archive (``nora_server.archive.patterns`` in a job) does not import SQLAlchemy
_EXPORTS = {"core": ("Archive", "connect"),
            "errors": ("AlreadyExists", "ArchiveError", "FilterError", "NotFound",
                       "PermissionDenied"),
            "files": ("AddItem",),
            "records": ("FileInfo", "ProjectInfo", "StudyRow", "TablePage", "UserInfo")}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return value


def __dir__():
    return sorted([*globals(), *__all__])
