"""DICOM for the server ring: header indexing, conversion with dcm2niix, safe zip extraction,
pseudonymisation, the DICOM node (pynetdicom SCP with a durable spool) and the SCU side
(C-ECHO, C-FIND, C-MOVE, C-GET, C-STORE toward PACS).

Modules are imported directly (``from nora_server.dicom.headers import index_paths``); nothing
here imports napari, Qt or napari_nora.
"""
