"""nora_server: the companion server package (archive, DICOM node, batch runner, CLIs).

Never imports napari, Qt or napari_nora (checked by import-linter).
"""

__version__ = "0.1.0.dev0"
