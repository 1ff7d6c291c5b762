"""dicom reader (being written)."""

from napari_nora.readers.registry import NoraReadError


def read(path) -> list:
    raise NoraReadError(f"{path}: the dicom reader is not available yet")
