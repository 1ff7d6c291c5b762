"""napari-nora: NORA's medical imaging platform as napari plugins.

The pure API (no Qt): :mod:`napari_nora.readers`, :mod:`napari_nora.geometry`,
:mod:`napari_nora.writers`, :mod:`napari_nora.display`. Widgets live in
:mod:`napari_nora.widgets` and are never imported from here.
"""

__version__ = "0.1.0.dev0"
