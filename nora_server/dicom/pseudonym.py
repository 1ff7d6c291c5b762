"""Pseudonymisation helpers: project pseudonyms for patient and study IDs, and scrubbing of
identifying attributes from headers and summaries.

The mapping (real ID -> pseudonym) is kept by the caller (the archive stores it where only
roles allowed to see it can read it); these functions only derive and apply pseudonyms.
A keyed hash makes the pseudonym stable per project without storing anything, so a re-import
of the same patient lands in the same subject.
"""

from __future__ import annotations

import hashlib
import hmac

from nora_server.dicom.headers import IDENTIFYING

#: attributes blanked in pseudonymised DICOM copies (a practical subset of PS3.15 E.1)
SCRUB_KEYWORDS = (
    "PatientName", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
    "PatientTelephoneNumbers", "OtherPatientIDs", "OtherPatientNames", "PatientMotherBirthName",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PhysiciansOfRecord", "AccessionNumber", "RequestingPhysician",
)


def pseudonym(real_id: str, *, key: str, prefix: str = "P", length: int = 10) -> str:
    """Stable pseudonym of ``real_id`` under the project's secret ``key``.

    >>> pseudonym("12345", key="k") == pseudonym("12345", key="k")
    True
    """
    digest = hmac.new(key.encode(), str(real_id).encode(), hashlib.sha256).hexdigest()
    return f"{prefix}{digest[:length].upper()}"


def scrub_summary(summary: dict, *, patient_id: str, study_id: str | None = None) -> dict:
    """Copy of a series summary with identifying attributes removed and IDs replaced."""
    out = {k: v for k, v in summary.items() if k not in IDENTIFYING}
    out["PatientID"] = patient_id
    if study_id is not None:
        out["StudyID"] = study_id
    return out


def scrub_dataset(ds, *, patient_id: str) -> None:
    """Blank identifying attributes of a pydicom dataset in place and set its PatientID."""
    for kw in SCRUB_KEYWORDS:
        if kw in ds:
            ds.data_element(kw).value = ""
    ds.remove_private_tags()
    ds.PatientID = patient_id
    ds.PatientName = patient_id
