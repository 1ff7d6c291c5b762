"""``napari-nora [PATH ...]``: napari with the NORA plugin, the NORA desktop dock (on
``nora.toml``; without one and without files, on an embedded demo archive it creates), the
given files (or the demo's first T1), the workspace (linked axial, coronal and sagittal views)
and the display settings dock."""

from __future__ import annotations

import argparse


def build_viewer(paths=(), *, show=True, desktop=True):
    import napari

    from napari_nora.readers import get_reader
    from napari_nora.widgets.desktop import add_desktop, size_window
    from napari_nora.widgets.display_settings import DisplaySettings
    from napari_nora.widgets.workspace import WorkspaceWidget

    viewer = napari.Viewer(title="napari-nora", show=show)
    for p in paths:
        try:  # ours where it reads the file, else napari's own readers (a PNG, a .csv of points)
            viewer.open(p, plugin="napari-nora" if get_reader(str(p)) else "napari")
        except Exception as exc:  # noqa: BLE001 - one bad file must not keep out the others
            _cannot_open(p, exc)
    # the demo archive is made on a first start without files; with files, an existing one
    dock = add_desktop(viewer, open_first=not paths, create=not paths) if desktop else None
    if not paths and dock is None:
        viewer.open_sample("napari-nora", "brain")
    viewer.window.add_dock_widget(DisplaySettings(viewer), name="Display settings", area="right")
    # the workspace shares a tabbed dock with the display settings: the desktop keeps its height
    viewer.window.add_dock_widget(WorkspaceWidget(viewer, layout="ortho"), name="Workspace",
                                  area="right", tabify=True)
    size_window(viewer, dock)
    return viewer


def _cannot_open(path, exc: Exception) -> None:
    """Say why ``path`` did not open, in napari's notifications (printed on the terminal too)."""
    from napari.utils.notifications import show_error

    text = str(exc)  # our readers' errors start with the file's path
    show_error(f"cannot open {text if text.startswith(f'{path}:') else f'{path}: {text}'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="napari-nora", description=__doc__)
    ap.add_argument("paths", nargs="*", help="files or folders to open (NIfTI, DICOM, ...)")
    args = ap.parse_args(argv)
    import napari

    build_viewer(args.paths)
    napari.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
