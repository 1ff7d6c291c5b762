"""Where each indexed series goes: its subject and study folders (header IDs, ``--patients_id``,
``--studies_id``, ``--pattern``, pseudonyms) and whether it is new, already imported, or has
instances that arrived after it was imported."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nora_server.dicom.headers import Series
from nora_server.dicom.pseudonym import pseudonym
from nora_server.dicom.settings import ProjectPolicy

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def python_regex(pattern: str) -> re.Pattern:
    """Compile NORA's ``--pattern`` (PCRE ``(?<name>...)`` groups are accepted)."""
    try:
        return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern))
    except re.error as exc:
        raise ValueError(f"--pattern {pattern!r} is not a valid regular expression: {exc}") \
            from None


def folder_name(text: str, fallback: str) -> str:
    """A usable single folder/file name from header text."""
    name = _UNSAFE.sub("_", str(text)).strip("._")[:64]
    return name or fallback


class _Default(dict):
    def __missing__(self, key):
        return ""


def format_name(template: str, summary: dict, fallback: str) -> str:
    """``template`` (``str.format`` with header keywords, e.g. ``{SeriesDescription}_
    {SeriesNumber}``) filled from a series summary, as a folder name."""
    values = dict(summary)
    values.setdefault("SeriesNumber", 0)
    values["StudyTime"] = str(values.get("StudyTime") or "").split(".")[0][:6]
    try:
        return folder_name(template.format_map(_Default(values)), fallback)
    except (ValueError, TypeError, IndexError, AttributeError):
        return fallback


def label(s: Series) -> str:
    return f"{s.summary.get('SeriesDescription', '')} ({s.uid})"


@dataclass
class Planned:
    """A series and the study it goes to."""

    series: Series
    subject: str
    study: str
    subject_info: dict
    study_info: dict
    known: dict  # {series uid: record} of the study, shared by the series planned into it


def plan_import(all_series, target, options, report, *,
                shown: Callable[[Path], str] = Path.as_posix) -> tuple[list[Planned],
                                                                       list[Planned]]:
    """(new series to convert, series already imported), each with its subject and study.

    ``shown(folder)`` is the folder as the user gave it (``--pattern`` applies to it); skipped
    series and late instances go to ``report``."""
    policy = options.policy
    regex = python_regex(options.pattern) if options.pattern else None
    known: dict[tuple[str, str], dict[str, dict]] = {}
    subjects: dict[str, str] = {}
    plan, existing = [], []
    for s in sorted(all_series, key=lambda s: (s.patient_id, s.study_uid,
                                               s.summary.get("SeriesNumber", 0))):
        if not s.has_pixels or "no pixel data" in s.summary.get("Warnings", []):
            report.skipped.append((label(s), "no image data (report, presentation state, ...)"))
            continue
        groups = {}
        if regex is not None:
            where = shown(s.files[0].parent)
            m = regex.search(where)
            if m is None:
                report.skipped.append((label(s), f"--pattern does not match {where}"))
                continue
            groups = {k: v for k, v in m.groupdict().items() if v}
        real_pid = s.patient_id or "unknown"
        pid = options.patients_id or groups.get("patients_id")
        if pid is None:
            if real_pid not in subjects:
                subjects[real_pid] = subject_for(real_pid, target, policy)
            pid = subjects[real_pid]
        pid = folder_name(pid, "unknown")
        sid = options.studies_id or groups.get("studies_id") or format_name(
            policy.study_key, s.summary, "S" + s.study_uid.replace(".", "")[-10:])
        sid = folder_name(sid, "study")
        key = (pid, sid)
        if key not in known:
            known[key] = dict(target.series_in_study(pid, sid))
        item = Planned(s, pid, sid, subject_info(s.summary, real_pid, policy),
                       _study_info(s.summary), known[key])
        if s.uid in known[key]:
            record = known[key][s.uid]
            late = s.sop_uids - set(record.get("sop_uids", s.sop_uids))
            if late:  # never silently: the caller (the node) keeps them for an admin
                report.errors.append((label(s), f"{len(late)} instance(s) arrived after the "
                                      f"series was imported as {pid}#{sid}/{record.get('folder')}"
                                      "; delete that series and import all its files again"))
            else:
                report.skipped.append((label(s), f"already imported as {pid}#{sid}/"
                                       f"{record.get('folder')}"))
                existing.append(item)
            continue
        known[key][s.uid] = {}  # the same series twice in one import: once
        plan.append(item)
    return plan, existing


def subject_for(real_pid: str, target, policy: ProjectPolicy) -> str:
    """The subject of patient ``real_pid`` (not yet a folder name): the real ID, or in a
    pseudonymised project the patient's existing subject, else a keyed pseudonym, else a
    random one (call once per patient and remember it)."""
    if not policy.pseudonymise:
        return real_pid
    existing = target.subject_for_patient(real_pid)
    if existing:
        return existing
    if policy.pseudonym_key:
        return pseudonym(real_pid, key=policy.pseudonym_key, prefix=policy.pseudonym_prefix)
    return f"{policy.pseudonym_prefix}{secrets.token_hex(5).upper()}"


def _iso(d) -> str | None:
    d = str(d or "")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if re.fullmatch(r"\d{8}", d) else None


def subject_info(summary: dict, real_pid: str, policy: ProjectPolicy) -> dict:
    """The subject row from header keywords (``PatientName``, ``PatientBirthDate``,
    ``PatientSex``): the real identity, which the archive shows only to roles with the
    ``identity`` right (members, owners); a pseudonymised project keeps just the patient ID
    (the mapping) unless its policy says ``keep_identity``."""
    info = {"patient_id": real_pid, "sex": summary.get("PatientSex")}
    if not policy.pseudonymise or policy.keep_identity:
        info["patient_name"] = summary.get("PatientName")
        info["birth_date"] = _iso(summary.get("PatientBirthDate"))
    return {k: v for k, v in info.items() if v}


def _study_info(summary: dict) -> dict:
    info = {"study_date": _iso(summary.get("StudyDate")),
            "description": summary.get("StudyDescription"), "modality": summary.get("Modality")}
    return {k: v for k, v in info.items() if v}
