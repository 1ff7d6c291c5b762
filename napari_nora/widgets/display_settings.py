"""Display settings: radiological or neurological convention, CT window presets."""

from __future__ import annotations

import napari
from magicgui.widgets import ComboBox, Container, Label, PushButton

from napari_nora import display, settings
from napari_nora.viewer_hook import apply_orientation, bind_keys, set_ct_window


class DisplaySettings(Container):
    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._convention = ComboBox(label="Convention", choices=settings.CONVENTIONS,
                                    value=settings.load()["convention"])
        self._convention.changed.connect(self._on_convention_changed)
        self.append(self._convention)
        self.append(Label(value="CT windows (keys 1-6, 0 = automatic):"))
        for key, (name, level, width) in display.CT_WINDOWS.items():
            btn = PushButton(text=f"{key}: {name} (L {level:g} / W {width:g})")
            btn.changed.connect(lambda *_, k=key: set_ct_window(self._viewer, k))
            self.append(btn)
        auto = PushButton(text="0: automatic (robust percentiles)")
        auto.changed.connect(lambda *_: set_ct_window(self._viewer, "0"))
        self.append(auto)
        apply_orientation(viewer)
        bind_keys(viewer)

    def _on_convention_changed(self, value):
        settings.save(convention=value)
        apply_orientation(self._viewer, value)
