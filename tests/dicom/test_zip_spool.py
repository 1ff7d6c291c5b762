"""Safe zip extraction and the durable spool (no network)."""

from __future__ import annotations

import os
import stat
import time
import zipfile

import pytest

from nora_server.dicom.spool import Spool, StudyWatcher
from nora_server.dicom.zipsafe import UnsafeArchiveError, extract_zip


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            if isinstance(data, zipfile.ZipInfo):
                z.writestr(data, name)
            else:
                z.writestr(name, data)
    return path


def test_zip_extracts_nested_folders(tmp_path):
    z = _zip(tmp_path / "ok.zip", {"a/b/one.dcm": b"1", "two.dcm": b"2"})
    files = extract_zip(z, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == [
        "a/b/one.dcm", "two.dcm"]


@pytest.mark.parametrize("name", ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm",
                                  "C:/evil.dcm", "..\\evil.dcm"])
def test_zip_slip_is_refused_and_nothing_written(tmp_path, name):
    z = _zip(tmp_path / "bad.zip", {"fine.dcm": b"1", name: b"x"})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract_zip(z, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "evil.dcm").exists()


def test_zip_symlink_member_is_refused(tmp_path):
    info = zipfile.ZipInfo("link.dcm")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = _zip(tmp_path / "link.zip", {"/etc/passwd": info})
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_zip(z, tmp_path / "out")


def test_zip_bomb_limit(tmp_path):
    z = _zip(tmp_path / "big.zip", {"a.dcm": b"0" * 10_000})
    with pytest.raises(UnsafeArchiveError, match="expands beyond"):
        extract_zip(z, tmp_path / "out", max_bytes=1000)


def test_not_a_zip_is_reported(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"nope")
    with pytest.raises(UnsafeArchiveError, match="not a readable zip"):
        extract_zip(tmp_path / "x.zip", tmp_path / "out")


def test_spool_store_is_atomic_and_leaves_no_temp(tmp_path):
    spool = Spool(tmp_path / "s")
    p = spool.store("1.2.3", "1.2.3.4", b"DATA", {"called_aet": "NORA"})
    assert p.read_bytes() == b"DATA" and not any(spool.tmp.iterdir())
    assert Spool.route_of(p.parent) == {"called_aet": "NORA"}


def test_spool_restart_drops_partials_and_resumes_studies(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.store("1.2.3", "1.2.3.4", b"A")
    (spool.tmp / "crash.part").write_bytes(b"half")        # a write that never finished
    old = time.time() - 100
    for f in (spool.incoming / "1.2.3").iterdir():
        os.utime(f, (old, old))
    again = Spool(tmp_path / "s")                          # restart
    assert not any(again.tmp.iterdir())
    assert again.quiet_studies(30) == ["1.2.3"]            # quiet for 100 s already
    seen = []
    StudyWatcher(again, lambda f, r: seen.append(len(Spool.instances(f))), quiet_s=30).sweep()
    assert seen == [1] and not any(again.incoming.iterdir()) and not any(again.ready.iterdir())


def test_spool_failed_import_is_kept_with_reason(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.store("9.9", "9.9.1", b"A")

    def boom(folder, route):
        raise RuntimeError("archive down")
    StudyWatcher(spool, boom, quiet_s=0).sweep()
    (failed,) = spool.failed.iterdir()
    assert "archive down" in (failed / "error.txt").read_text()
    assert len(Spool.instances(failed)) == 1


def test_claimed_study_is_imported_after_restart(tmp_path):
    spool = Spool(tmp_path / "s")
    spool.store("7.7", "7.7.1", b"A")
    spool.claim("7.7")                                     # crash during import
    seen = []
    w = StudyWatcher(Spool(tmp_path / "s"), lambda f, r: seen.append(f.name), poll_s=0.05)
    w.start()
    time.sleep(0.3)
    w.stop()
    assert len(seen) == 1 and seen[0].startswith("7.7.")
