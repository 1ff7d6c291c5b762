"""What the NORA desktop needs from the archive beyond the client interface's per-item calls,
kept free of napari and Qt so scripts and tests use it directly:

* ``table``     the subject/study table as columns (100k studies in one query), with ids,
                tags and job states, and filtering by the archive's filter bars;
* ``autoload``  the autoloader's saved pattern list and the files it opens per study;
* ``upload``    local files into a chosen study or by the data's own IDs (native PID), and
                DICOM through the import pipeline.

Every function takes an :class:`~nora_server.archive.session.ArchiveSession` and checks the
user's role on the project through it.
"""
