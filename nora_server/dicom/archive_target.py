"""The archive as an import target: series land through ``ArchiveSession.add_files`` (all
files of a series or none) and each imported series is remembered in a metadata document
``dicom-series:<SeriesInstanceUID>`` of its study (header summary, folder, files, dcm2niix
warnings), which is also how a re-import knows what is there already."""

from __future__ import annotations

from pathlib import Path

from nora_server.archive.errors import AlreadyExists, NotFound
from nora_server.archive.files import AddItem

DOC_PREFIX = "dicom-series:"


class ArchiveTarget:
    """:class:`~nora_server.dicom.importer.ImportTarget` on one project of a session."""

    def __init__(self, session, project: str):
        self.session, self.project = session, project
        self.session.role(project)  # fails early and clearly on unknown projects
        self._patients: dict[str, str] | None = None

    def series_in_study(self, subject: str, study: str) -> dict[str, dict]:
        ref = f"{subject}#{study}"
        try:
            names = self.session.documents("metadata", project=self.project, ref=ref)
        except NotFound:
            return {}
        out = {}
        for name in names:
            if name.startswith(DOC_PREFIX):
                out[name[len(DOC_PREFIX):]] = self.session.metadata(self.project, ref, name)
        return out

    def subject_for_patient(self, patient_id: str) -> str | None:
        if self._patients is None:
            self._patients = {r.patient_id: r.subject for r in self.session.subjects(self.project)
                              if r.patient_id}
        return self._patients.get(patient_id)

    def add_series(self, subject: str, study: str, items: list[tuple[Path, str, bool]], *,
                   subject_info: dict, study_info: dict, record: dict | None) -> None:
        ref = f"{subject}#{study}"
        add = [AddItem(Path(src), ref, rel, move) for src, rel, move in items]
        try:
            self.session.add_files(self.project, add, subject_info=subject_info,
                                   study_info=study_info)
        except AlreadyExists:  # refused before anything changed
            if record is None or not self._orphaned(ref, record):
                raise
            self.session.add_files(self.project, add, subject_info=subject_info,
                                   study_info=study_info, overwrite=True)
        if record is not None:
            self.session.set_metadata(self.project, ref, DOC_PREFIX + record["SeriesInstanceUID"],
                                      record)
            if self._patients is not None and subject_info.get(subject, {}).get("patient_id"):
                self._patients[subject_info[subject]["patient_id"]] = subject

    def file_checksums(self, subject: str, study: str, folder: str) -> dict[str, str]:
        ref = f"{subject}#{study}"
        try:
            files = self.session.select_files(self.project, f"{folder}/*", ref=ref)
        except NotFound:
            return {}
        return {f.path: f.checksum for f in files
                if f.subject == subject and f.study == study and f.path.startswith(folder + "/")}

    def _orphaned(self, ref: str, record: dict) -> bool:
        """Files of this series folder exist without its record (a crash between the add and
        the record): they are this series' own, so they may be replaced."""
        try:
            return bool(self.session.select_files(self.project, f"{record['folder']}/*", ref=ref))
        except NotFound:
            return False
