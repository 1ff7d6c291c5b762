"""The viewer workspace without Qt: layouts, the shared world position, readouts, navigation.

Everything here is plain Python (numpy, psygnal): the Qt side in
``napari_nora.widgets.workspace*`` / ``ortho*`` only wires canvases and mouse events to it.
"""
