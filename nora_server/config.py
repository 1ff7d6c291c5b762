"""Site configuration: one ``nora.toml``.

The file is found at ``$NORA_CONFIG`` if set, else in the user's config folder
(``$XDG_CONFIG_HOME/nora/nora.toml``, by default ``~/.config/nora/nora.toml``).

Example (what ``noractl init`` writes for the embedded default)::

    [archive]
    database = "sqlite:////home/me/nora/nora.sqlite"
    storage = "/home/me/nora/storage"

A site uses ``database = "mysql+pymysql://user:password@dbhost/nora"``.
Other sections (``[dicom]``, ``[batch]``...) belong to their own modules and are kept in
``Settings.sections`` untouched.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

CONFIG_ENV = "NORA_CONFIG"


class ConfigError(Exception):
    """The configuration is missing or wrong; the message says what to do."""


@dataclass(frozen=True)
class Settings:
    """What the archive needs: a database URL and a storage root."""

    database: str
    storage: Path
    path: Path | None = None  # the nora.toml these settings came from
    sections: dict = field(default_factory=dict)


def default_config_path() -> Path:
    """``$NORA_CONFIG``, else ``$XDG_CONFIG_HOME/nora/nora.toml`` (``~/.config`` by default)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nora" / "nora.toml"


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read ``nora.toml`` (``path``, else :func:`default_config_path`)."""
    path = Path(path).expanduser() if path else default_config_path()
    if not path.is_file():
        raise ConfigError(
            f"no configuration at {path}: run 'noractl init' to create the embedded default, "
            f"or point {CONFIG_ENV} at your site's nora.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    archive = data.get("archive")
    if not isinstance(archive, dict) or "database" not in archive or "storage" not in archive:
        raise ConfigError(f"{path} needs an [archive] section with 'database' and 'storage'")
    storage = Path(str(archive["storage"])).expanduser()
    if not storage.is_absolute():
        storage = (path.parent / storage).resolve()
    return Settings(database=str(archive["database"]), storage=storage, path=path,
                    sections={k: v for k, v in data.items() if k != "archive"})


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_settings(settings: Settings, path: str | os.PathLike) -> Path:
    """Write the ``[archive]`` section of ``nora.toml`` (other sections are not written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("# napari-nora configuration (written by noractl init)\n"
            "[archive]\n"
            f"database = {_toml_str(settings.database)}\n"
            f"storage = {_toml_str(str(settings.storage))}\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    log.info("wrote %s", path)
    return path


def embedded_settings(root: str | os.PathLike) -> Settings:
    """The embedded default: an SQLite file and a storage folder under one root."""
    root = Path(root).expanduser().resolve()
    return Settings(database=f"sqlite:///{root / 'nora.sqlite'}", storage=root / "storage")
