"""Apply napari-nora's view conventions to the viewer that is opening our files.

npe2 readers cannot reach the viewer, so the reader function is wrapped: before returning its
layers it sets the camera orientation (anterior/superior up; radiological or neurological),
binds the CT window keys once per viewer, and styles images added on top of others as overlays.
napari is imported lazily; without a viewer (scripts) nothing happens.
"""

from __future__ import annotations

import functools

from napari_nora import display, settings

OVERLAY_COLORMAPS = ("hot", "cyan", "green", "magenta", "yellow", "blue")


def apply_orientation(viewer, convention: str | None = None) -> None:
    convention = convention or settings.load()["convention"]
    scene = getattr(viewer, "scene", None)  # napari >= 0.9
    camera = scene.camera if scene is not None else viewer.camera
    camera.orientation2d = display.ORIENTATION_2D[convention]


def _target_image(viewer):
    """The selected image layer, else the top visible one."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    if isinstance(active, Image):
        return active
    for layer in reversed(viewer.layers):
        if isinstance(layer, Image) and layer.visible:
            return layer
    return None


def set_ct_window(viewer, key: str) -> None:
    """Apply CT window preset ``key`` ('1'-'6'), or the automatic window ('0')."""
    layer = _target_image(viewer)
    if layer is None or layer.rgb:
        return
    if key == "0":
        data = layer.data
        sample = data.volume(0) if hasattr(data, "volume") else data
        layer.contrast_limits = display.robust_limits(sample)
        return
    _, level, width = display.CT_WINDOWS[key]
    lo, hi = display.window_limits(level, width)
    rng = layer.contrast_limits_range
    layer.contrast_limits_range = (min(rng[0], lo), max(rng[1], hi))
    layer.contrast_limits = (lo, hi)


def bind_keys(viewer) -> None:
    if getattr(viewer, "_nora_keys_bound", False):
        return
    for key in [*display.CT_WINDOWS, "0"]:
        viewer.bind_key(key, functools.partial(_key_handler, key=key), overwrite=True)
    viewer._nora_keys_bound = True


def _key_handler(viewer, key):
    set_ct_window(viewer, key)


def style_overlays(viewer, layer_data: list) -> list:
    """Give images opened on top of existing images an overlay colormap and opacity."""
    from napari.layers import Image

    n_images = sum(isinstance(lyr, Image) for lyr in viewer.layers)
    out = []
    for data, kwargs, kind in layer_data:
        if kind == "image" and not kwargs.get("rgb") and n_images > 0:
            kwargs = dict(kwargs)
            kwargs.setdefault("colormap", OVERLAY_COLORMAPS[(n_images - 1) % len(OVERLAY_COLORMAPS)])
            kwargs.setdefault("opacity", 0.5)
            kwargs.setdefault("blending", "additive")
        if kind == "image":
            n_images += 1
        if kind == "labels":
            kwargs = dict(kwargs)
            kwargs.setdefault("opacity", 0.5)
        out.append((data, kwargs, kind))
    return out


def report_problems(layer_data: list) -> None:
    """Tell the user, in a napari notification, about files a reader skipped (unreadable files
    in a DICOM folder) and its notes (missing slices, split series); the reader logged them."""
    skipped, notes = {}, []
    for _data, kwargs, _kind in layer_data:
        meta = kwargs.get("metadata") or {}
        for s in meta.get("skipped") or ():
            skipped.setdefault(s["file"], s["reason"])
        notes += [f"{kwargs.get('name')}: {n}" for n in meta.get("notes") or ()]
    if not skipped and not notes:
        return
    from napari.utils.notifications import show_warning

    lines = [f"{f}: {r}" for f, r in list(skipped.items())[:5]]
    if len(skipped) > 5:
        lines.append(f"... and {len(skipped) - 5} more")
    parts = [f"{len(skipped)} file(s) skipped: " + "; ".join(lines)] if skipped else []
    show_warning("; ".join(parts + notes[:5]))


def prepare_viewer(viewer, layer_data: list) -> list:
    apply_orientation(viewer)
    bind_keys(viewer)
    report_problems(layer_data)
    return style_overlays(viewer, layer_data)


def with_view_conventions(make_layers):
    """Wrap a function returning layer data (a reader, a sample) so that the viewer opening
    them gets our conventions and overlay styling."""

    @functools.wraps(make_layers)
    def reader(*args, **kwargs):
        layer_data = make_layers(*args, **kwargs)
        try:
            import napari

            viewer = napari.current_viewer()
        except Exception:  # noqa: BLE001 - no napari/viewer: plain data
            viewer = None
        return prepare_viewer(viewer, layer_data) if viewer is not None else layer_data

    return reader
