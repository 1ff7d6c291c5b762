"""Convert DICOM series to NIfTI with dcm2niix (JSON sidecar; bval/bvec for diffusion).

All series of one import go through a single dcm2niix call, named by SeriesInstanceUID
(``-f %j``) so each output maps back to its series: on the import's folder itself while the
headers are indexed (:class:`Dcm2niixRun` runs in the background), or on a staging folder of
links to exactly the files of the series that need it (:func:`convert`).

dcm2niix exits 0 even when it distrusts the geometry, so its output is read: ``Warning:`` and
``Error:`` lines are attributed to the series converted right after them (dcm2niix prints
them before its ``Convert N DICOM as`` line) and kept with the result, and N tells how many
files it put into each series.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.dicom.slicefit import refit_slice_axis

log = logging.getLogger(__name__)

_CONVERT_LINE = re.compile(r"^Convert (?P<n>\d+) DICOM as (?P<path>.+?) \(")
_IMAGE_SUFFIXES = (".nii.gz", ".nii")
_EXTRA_SUFFIXES = (".json", ".bval", ".bvec")


class ConversionError(RuntimeError):
    """dcm2niix could not be run or failed as a whole."""


@dataclass
class Converted:
    """The outputs of one series."""

    series_uid: str
    images: list[Path] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)   # .json
    gradients: list[Path] = field(default_factory=list)  # .bval, .bvec
    warnings: list[str] = field(default_factory=list)
    geometry_refit: dict | None = None   # see nora_server.dicom.slicefit
    instances: int = 0   # DICOM files dcm2niix put into these outputs (its "Convert N")

    @property
    def files(self) -> list[Path]:
        return [*self.images, *self.sidecars, *self.gradients]


@dataclass
class ConversionResult:
    series: dict[str, Converted] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)   # not attributable to one series
    log: str = ""


def dcm2niix_binary() -> str:
    """Path of the dcm2niix binary: the PyPI package's, else one on PATH."""
    try:
        import dcm2niix  # the PyPI package ships the binary
        if Path(dcm2niix.bin).is_file():
            return dcm2niix.bin
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if not found:
        raise ConversionError("dcm2niix not found: install the PyPI package 'dcm2niix'")
    return found


def stage_files(files_by_series: dict[str, list[Path]], stage: Path) -> None:
    """Link every file into ``stage`` (symlinks; dcm2niix follows them)."""
    stage_paths([f for files in files_by_series.values() for f in files], stage)


def stage_paths(paths, stage: Path) -> None:
    """Link ``paths`` into the flat folder ``stage`` as ``000000.dcm``, ``000001.dcm``..."""
    stage.mkdir(parents=True, exist_ok=True)
    for n, f in enumerate(paths):
        os.symlink(os.path.abspath(f), stage / f"{n:06d}.dcm")


class Dcm2niixRun:
    """dcm2niix running in the background on one folder, outputs named by SeriesInstanceUID.

    Start it, do other work (header indexing), then :meth:`wait` for the outputs of the
    series you want, or :meth:`cancel` it."""

    def __init__(self, in_dir: Path, out_dir: Path, *, compress: bool = False,
                 anonymise_sidecar: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [dcm2niix_binary(), "-b", "y", "-ba", "y" if anonymise_sidecar else "n",
               "-z", "y" if compress else "n", "-d", "9", "-f", "%j", "-o", str(self.out_dir),
               str(in_dir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)

    def wait(self, uids, *, timeout: float = 900) -> ConversionResult:
        """The outputs of the series ``uids``; raises ConversionError when dcm2niix failed."""
        try:
            text, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.cancel()
            raise ConversionError(f"dcm2niix took longer than {timeout:.0f} s") from exc
        if self.proc.returncode not in (0, 2):  # 2: "no valid DICOM found", told per series
            raise ConversionError(f"dcm2niix failed (exit {self.proc.returncode}): "
                                  f"{text[-2000:]}")
        uids = list(uids)
        result = parse_output(text, uids)
        collect_outputs(self.out_dir, result, uids)
        return result

    def cancel(self) -> None:
        """Stop it (if it still runs) and reap it."""
        if self.proc.returncode is None:
            self.proc.kill()
            self.proc.communicate()


def convert(files_by_series: dict[str, list[Path]], out_dir: Path, *, compress: bool = False,
            anonymise_sidecar: bool = True, timeout: float = 900,
            geometry: dict[str, tuple] | None = None) -> ConversionResult:
    """Convert the given series (files keyed by SeriesInstanceUID) into ``out_dir``.

    ``geometry`` maps a series UID to (ImagePositionPatient per file, ImageOrientationPatient);
    where given, a plain 3D output gets its slice axis refitted to all positions
    (:mod:`nora_server.dicom.slicefit`). Returns the outputs per series; a series that
    produced no image is absent from ``result.series`` and its reason is in the warnings.
    """
    out_dir = Path(out_dir)
    stage = out_dir / ".stage"
    stage_files(files_by_series, stage)
    try:
        run = Dcm2niixRun(stage, out_dir, compress=compress, anonymise_sidecar=anonymise_sidecar)
        result = run.wait(files_by_series.keys(), timeout=timeout)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return finish(result, list(files_by_series), geometry)


def finish(result: ConversionResult, uids: list[str],
           geometry: dict[str, tuple] | None = None) -> ConversionResult:
    """Keep the series ``uids`` of ``result`` (the others' outputs are ignored), note those
    without an image, and refit the slice axis where ``geometry`` is given."""
    result.series = {u: c for u, c in result.series.items() if u in uids}
    for uid in uids:
        if uid not in result.series or not result.series[uid].images:
            result.series.pop(uid, None)
            result.warnings.append(f"series {uid}: dcm2niix produced no image")
    for uid, (positions, orientation) in (geometry or {}).items():
        c = result.series.get(uid)
        if c is not None and len(c.images) == 1:
            c.geometry_refit = refit_slice_axis(c.images[0], positions, orientation)
    return result


def parse_output(text: str, uids) -> ConversionResult:
    """Attribute dcm2niix's warnings to the series whose ``Convert`` line follows them."""
    result = ConversionResult(log=text)
    pending: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("Warning:", "Error:")):
            pending.append(line)
            continue
        m = _CONVERT_LINE.match(line)
        if m:
            uid = _uid_of(Path(m.group("path")).name, uids)
            if uid is None:
                result.warnings.extend(pending)
            else:
                c = result.series.setdefault(uid, Converted(uid))
                c.warnings.extend(pending)
                c.instances += int(m.group("n"))
            pending = []
    result.warnings.extend(pending)
    return result


def _uid_of(name: str, uids) -> str | None:
    """The series an output belongs to: the longest UID that ``name`` starts with, followed by
    ``_`` (dcm2niix's postfixes) or ``.`` (the extension); "1.2.3.4.nii" is 1.2.3.4's even
    when 1.2.3 is a series too."""
    best = None
    for uid in uids:
        if (name == uid or name.startswith(uid + "_") or name.startswith(uid + ".")) and (
                best is None or len(uid) > len(best)):
            best = uid
    return best


def collect_outputs(out_dir: Path, result: ConversionResult, uids: list[str]) -> None:
    for p in sorted(out_dir.iterdir()):
        if not p.is_file():
            continue
        stem = p.name
        uid = _uid_of(stem, uids)
        if uid is None:
            continue
        c = result.series.setdefault(uid, Converted(uid))
        if stem.endswith(_IMAGE_SUFFIXES):
            c.images.append(p)
        elif stem.endswith(".json"):
            c.sidecars.append(p)
        elif stem.endswith((".bval", ".bvec")):
            c.gradients.append(p)
