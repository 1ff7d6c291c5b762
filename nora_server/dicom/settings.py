"""DICOM settings from ``nora.toml``: the node (``[dicom]``), accepted peers, routing, and PACS
nodes (``[pacs.<name>]``).

Example::

    [dicom]
    ae_title = "NORA"
    host = "127.0.0.1"          # address the node binds
    port = 11112
    spool = "/srv/nora/spool"   # default: <storage root>/.dicom-spool
    quiet_seconds = 30          # a study is imported after this long without a new instance
    open = false                # true: accept any calling AE title and host
    fsync = true                # acknowledge an instance once fsynced (false: once written
                                # to the OS: safe if the node crashes, not if the machine does)
    default_project = "inbox"   # where studies go that no route or rule claims
    keep_dicom = false          # keep the original DICOM beside each converted series
    user = "nora"               # archive user the node imports as (default: $NORA_USER)

    [[dicom.peers]]             # accepted senders (the PACS nodes below are accepted too)
    ae_title = "SCANNER1"
    host = "10.0.0.5"

    [dicom.routes]              # called AE title -> project
    NORA_NEURO = "neuro"

    [[dicom.rules]]             # tag rules, first match wins
    tag = "StudyDescription"
    match = "(?i)brain"
    project = "neuro"

    [dicom.policies.neuro]      # per project (all keys optional)
    pseudonymise = true
    pseudonym_key = "long secret"
    series_folder = "{SeriesDescription}_{SeriesNumber}"
    keep_dicom = true

    [pacs.main]
    ae_title = "PACS"
    host = "pacs.example.org"
    port = 104
    retrieve = "move"           # or "get"
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.config import ConfigError


@dataclass(frozen=True)
class RemoteNode:
    """A DICOM application entity we talk to."""

    name: str
    ae_title: str
    host: str
    port: int = 104
    retrieve: str = "move"   # "move" (to our node) or "get"


@dataclass(frozen=True)
class Peer:
    ae_title: str
    host: str


@dataclass(frozen=True)
class Rule:
    tag: str
    match: str
    project: str


@dataclass(frozen=True)
class ProjectPolicy:
    """How DICOM lands in one project (``[dicom.policies.<project>]`` in nora.toml)."""

    pseudonymise: bool = False        # subject folders are pseudonyms; names are not kept
    pseudonym_prefix: str = "P"
    pseudonym_key: str | None = None  # secret for stable pseudonyms; None: random ones
    study_key: str = "{StudyDate}{StudyTime}"            # the study folder (NORA's SID)
    series_folder: str = "{SeriesDescription}_{SeriesNumber}"
    file_stem: str = "s{SeriesNumber:03d}"
    keep_dicom: bool = False          # keep the original DICOM in <series>/dicom/
    compress: bool = False            # .nii.gz instead of .nii
    #: pseudonymised projects: keep the real name and birth date in the subject row, where
    #: only roles with the identity right (members, owners) see them; the real patient ID is
    #: always kept there (it maps a re-import to its pseudonym)
    keep_identity: bool = True
    autoexec: str | None = None       # autoexecution queue run after the node imports a study

    @classmethod
    def from_mapping(cls, d: dict) -> "ProjectPolicy":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DICOM policy keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


@dataclass
class DicomSettings:
    ae_title: str = "NORA"
    host: str = "127.0.0.1"
    port: int = 11112
    spool: Path | None = None
    quiet_seconds: float = 30.0
    open: bool = False
    fsync: bool = True
    default_project: str | None = None
    keep_dicom: bool = False
    compress: bool = False
    user: str | None = None       # archive user the node imports as (default: $NORA_USER)
    peers: list[Peer] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    pacs: dict[str, RemoteNode] = field(default_factory=dict)
    policies: dict[str, ProjectPolicy] = field(default_factory=dict)

    def policy(self, project: str) -> ProjectPolicy:
        return self.policies.get(project, ProjectPolicy(keep_dicom=self.keep_dicom,
                                                        compress=self.compress))

    @classmethod
    def from_mapping(cls, config: dict, *, storage_root: Path | None = None) -> "DicomSettings":
        """Build from the parsed ``nora.toml`` (the whole document); a wrong or missing value
        raises :class:`DicomConfigError`, which says which."""
        try:
            return cls._from_mapping(config, storage_root)
        except DicomConfigError:
            raise
        except (TypeError, ValueError, AttributeError, re.error) as exc:
            raise DicomConfigError(f"[dicom] or [pacs] in nora.toml: {exc}") from None

    @classmethod
    def _from_mapping(cls, config: dict, storage_root: Path | None) -> "DicomSettings":
        d = dict(config.get("dicom", {}))
        pacs = {}
        for name, node in (config.get("pacs") or {}).items():
            _require(node, ("ae_title", "host", "port"), f"[pacs.{name}]")
            retrieve = str(node.get("retrieve", "move")).lower()
            if retrieve not in ("move", "get"):
                raise DicomConfigError(f"[pacs.{name}] retrieve must be 'move' or 'get', "
                                       f"not {retrieve!r}")
            pacs[name] = RemoteNode(name, str(node["ae_title"]), str(node["host"]),
                                    _number(node, "port", None, int, f"[pacs.{name}]"), retrieve)
        peers = []
        for i, p in enumerate(d.get("peers", [])):
            _require(p, ("ae_title", "host"), f"[[dicom.peers]] entry {i + 1}")
            peers.append(Peer(str(p["ae_title"]), str(p["host"])))
        rules = []
        for i, r in enumerate(d.get("rules", [])):
            _require(r, ("tag", "match", "project"), f"[[dicom.rules]] entry {i + 1}")
            re.compile(r["match"])
            rules.append(Rule(str(r["tag"]), str(r["match"]), str(r["project"])))
        spool = d.get("spool")
        if spool is None and storage_root is not None:
            spool = Path(storage_root) / ".dicom-spool"
        return cls(
            ae_title=str(d.get("ae_title", "NORA")), host=str(d.get("host", "127.0.0.1")),
            port=_number(d, "port", 11112, int, "[dicom]"), spool=Path(spool) if spool else None,
            quiet_seconds=_number(d, "quiet_seconds", 30, float, "[dicom]"),
            open=bool(d.get("open", False)),
            fsync=bool(d.get("fsync", True)),
            default_project=d.get("default_project"), keep_dicom=bool(d.get("keep_dicom", False)),
            compress=bool(d.get("compress", False)), user=d.get("user"), peers=peers,
            routes={str(k): str(v) for k, v in (d.get("routes") or {}).items()},
            rules=rules, pacs=pacs,
            policies={str(k): ProjectPolicy.from_mapping(v)
                      for k, v in (d.get("policies") or {}).items()})

    def configured_peers(self) -> set[tuple[str, str]]:
        """(AE title, IP address) pairs of the peers and PACS nodes in ``nora.toml``."""
        return {(p.ae_title, ip) for p in [*self.peers, *self.pacs.values()]
                for ip in _addresses(p.host)}

    def accepted_peers(self) -> set[tuple[str, str]]:
        """(AE title, IP address) pairs allowed to connect: the configured peers, and our own
        AE title from loopback (local tools such as ``noractl start``'s C-ECHO)."""
        return self.configured_peers() | {(self.ae_title, "127.0.0.1")}

    def node(self, name: str) -> RemoteNode:
        try:
            return self.pacs[name]
        except KeyError:
            known = ", ".join(sorted(self.pacs)) or "none"
            raise KeyError(f"no PACS node {name!r} in nora.toml (configured: {known})") from None

    def project_for(self, route: dict, summary: dict) -> str | None:
        """Project of a received study: called AE title route, then tag rules, then default."""
        called = (route or {}).get("called_aet")
        if called in self.routes:
            return self.routes[called]
        for r in self.rules:
            if re.search(r.match, str(summary.get(r.tag, ""))):
                return r.project
        return self.default_project


def _number(mapping, key: str, default, kind, where: str):
    value = mapping.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DicomConfigError(f"{where} {key} = {value!r} in nora.toml is not "
                               f"{'an integer' if kind is int else 'a number'}") from None


class DicomConfigError(ConfigError, ValueError):
    """A wrong or missing value in the ``[dicom]``/``[pacs.*]`` sections of ``nora.toml``."""


def _require(mapping, keys, where):
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise DicomConfigError(f"{where} in nora.toml lacks {', '.join(missing)}")


def _addresses(host: str) -> set[str]:
    try:
        return {host} | set(socket.gethostbyname_ex(host)[2])
    except OSError:
        return {host}
