"""Files: add, index in place, select by pattern and tags, output locations, info, delete."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from nora_server.archive import AddItem, ArchiveError, NotFound
from nora_server.archive.models import File, PendingOp, Study, Subject
from nora_server.archive.patterns import matches, to_like


def count(archive, model) -> int:
    with archive.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar()


def leftovers(root) -> list[str]:
    return [p for p in map(str, root.rglob("*")) if ".nora-" in p]


@pytest.mark.parametrize("pattern,like,esc", [
    ("t1*/s0__.nii", "t1%/s0__.nii", None), ("*", "%", None), ("100%", "100\\%", "\\"),
    ("a\\b", "a\\\\b", "\\"),
])
def test_to_like(pattern, like, esc):
    assert to_like(pattern) == (like, esc)


def test_python_matching_agrees():
    assert matches("t1*/s0__.nii", "T1_mprage/s001.nii")
    assert not matches("t1*/s0__.nii", "t1/s0001.nii")


@pytest.mark.parametrize("pattern,expected", [
    ("t1*/s0*.nii", ["P001#S1/t1_trio_mprage/s001.nii", "P001#S1/t1_trio_mprage/s002.nii",
                     "P002#S1/t1_trio_fast/s010.nii"]),
    ("t1*/s0__.nii", ["P001#S1/t1_trio_mprage/s001.nii", "P001#S1/t1_trio_mprage/s002.nii",
                      "P002#S1/t1_trio_fast/s010.nii"]),
    ("t1*/s00_.nii", ["P001#S1/t1_trio_mprage/s001.nii", "P001#S1/t1_trio_mprage/s002.nii"]),
    ("T1*/S0*.NII", ["P001#S1/t1_trio_mprage/s001.nii", "P001#S1/t1_trio_mprage/s002.nii",
                     "P002#S1/t1_trio_fast/s010.nii"]),
    ("*.nii.gz", ["P001#S1/dwi/s003.nii.gz", "P002#S1/ct/ct.nii.gz"]),
    ("s001.nii", []),  # relative to the study folder: the series folder is part of the path
    ("P001#*/*/s001.nii", ["P001#S1/t1_trio_mprage/s001.nii", "P001#S2/MPR_t1/s001.nii"]),
    ("P00_#S1/META/*", ["P001#S1/META/radiomics1.json", "P003#S1/META/radiomics2.json"]),
])
def test_select_by_pattern(demo, pattern, expected):
    got = demo.session("reader").select_files("demo", pattern)
    assert [f"{f.ref}/{f.path}" for f in got] == expected


def test_select_by_tags(demo):
    s = demo.session("reader")
    assert [f.path for f in s.select_files("demo", tags=["good"])] == [
        "t1_trio_mprage/s001.nii", "t1_trio_mprage/s002.nii"]
    assert s.select_files("demo", "*s002*", tags=["good"])[0].path == "t1_trio_mprage/s002.nii"
    assert s.select_files("demo", tags=["good", "other"]) == []


def test_add_records_size_checksum_kind(demo):
    f = demo.session("member").file_info("P003#S1/t2/s006.nii", project="demo")
    data = b"t2/s006.nii"
    assert (f.size, f.checksum, f.kind) == (len(data), hashlib.sha256(data).hexdigest(), "nifti")
    assert f.abspath == demo.storage / "demo" / "P003" / "S1" / "t2" / "s006.nii"
    assert f.abspath.read_bytes() == data


def test_file_info_by_absolute_path_with_tags(demo):
    s = demo.session("reader")
    path = demo.storage / "demo/P001/S1/t1_trio_mprage/s001.nii"
    info = s.file_info(str(path))
    assert (info.ref, info.series, info.tags) == ("P001#S1", "t1_trio_mprage", ("good",))


def test_add_creates_subject_and_study(demo, tmp_path, write):
    s = demo.session("member")
    s.add_file("demo", write(tmp_path / "x.nii"), "NEW#S9", "anat/x.nii", tags="a,b")
    assert [r.ref for r in s.studies("demo", {"id": "NEW"})] == ["NEW#S9"]
    assert s.select_files("demo", "anat/*")[0].tags == ()
    assert s.file_info("NEW#S9/anat/x.nii", project="demo").tags == ("a", "b")


def test_add_is_all_or_nothing_on_bad_input(demo, tmp_path, write):
    s = demo.session("member")
    before = count(demo, File)
    good = write(tmp_path / "good.nii")
    for items in ([AddItem(good, "P001#S1", "new/good.nii"),
                   AddItem(tmp_path / "missing.nii", "P001#S1", "new/m.nii")],
                  [AddItem(good, "P001#S1", "new/good.nii"),
                   AddItem(good, "P001#S1", "t2/../../x.nii")],
                  [AddItem(good, "P001#S1", "new/a.nii"), AddItem(good, "P001", "new/b.nii")]):
        with pytest.raises(ArchiveError):
            s.add_files("demo", items)
    assert count(demo, File) == before
    assert not (demo.storage / "demo/P001/S1/new").exists()


def test_existing_file_needs_overwrite(demo, tmp_path, write):
    s = demo.session("member")
    src = write(tmp_path / "s006.nii", b"new content")
    with pytest.raises(ArchiveError, match="overwrite"):
        s.add_file("demo", src, "P003#S1", "t2/s006.nii")
    info = s.add_file("demo", src, "P003#S1", "t2/s006.nii", overwrite=True)
    assert info.abspath.read_bytes() == b"new content" and info.size == 11
    assert leftovers(demo.storage) == []
    assert count(demo, PendingOp) == 0


def test_failure_during_index_rolls_back_the_disk(demo, tmp_path, monkeypatch, write):
    s = demo.session("member")
    from nora_server.archive import rows

    def boom(*a, **k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(rows, "upsert_files", boom)
    old = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    with pytest.raises(RuntimeError):
        s.add_files("demo", [AddItem(write(tmp_path / "a.nii"), "Q1#S1", "a/a.nii"),
                             AddItem(write(tmp_path / "b.nii", b"B"), "P003#S1", "t2/s006.nii")],
                    overwrite=True)
    assert (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes() == old
    assert not (demo.storage / "demo/Q1").exists()
    assert leftovers(demo.storage) == [] and count(demo, PendingOp) == 0


def test_move_renames_the_source_in(demo, tmp_path, write):
    s = demo.session("member")
    src = write(tmp_path / "m.nii", b"moved")
    (info,) = s.add_files("demo", [AddItem(src, "P001#S1", "new/m.nii", move=True)])
    assert not src.exists() and info.abspath.read_bytes() == b"moved"
    assert (info.size, info.checksum) == (5, hashlib.sha256(b"moved").hexdigest())
    assert leftovers(demo.storage) == [] and count(demo, PendingOp) == 0


def test_failed_move_puts_the_sources_back(demo, tmp_path, monkeypatch, write):
    s = demo.session("member")
    from nora_server.archive import rows

    def boom(*a, **k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(rows, "upsert_files", boom)
    old = (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes()
    a, b = write(tmp_path / "a.nii", b"A"), write(tmp_path / "b.nii", b"B")
    with pytest.raises(RuntimeError):
        s.add_files("demo", [AddItem(a, "Q1#S1", "a/a.nii", move=True),
                             AddItem(b, "P003#S1", "t2/s006.nii", move=True)], overwrite=True)
    assert (a.read_bytes(), b.read_bytes()) == (b"A", b"B")  # nothing lost
    assert (demo.storage / "demo/P003/S1/t2/s006.nii").read_bytes() == old
    assert not (demo.storage / "demo/Q1").exists()
    assert leftovers(demo.storage) == [] and count(demo, PendingOp) == 0


def test_move_across_file_systems_copies(demo, tmp_path, monkeypatch, write):
    import errno

    from nora_server.archive import files

    def other_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(files.os, "rename", other_device)
    src = write(tmp_path / "m.nii", b"copied")
    (info,) = demo.session("member").add_files(
        "demo", [AddItem(src, "P001#S1", "new/m.nii", move=True)])
    assert src.read_bytes() == b"copied" and info.abspath.read_bytes() == b"copied"


def test_a_source_is_moved_once(demo, tmp_path, write):
    src = write(tmp_path / "m.nii")
    with pytest.raises(ArchiveError, match="twice"):
        demo.session("member").add_files("demo", [AddItem(src, "P001#S1", "new/a.nii", move=True),
                                                  AddItem(src, "P001#S1", "new/b.nii", move=True)])
    assert src.exists()


def test_index_in_place(demo, write):
    s = demo.session("member")
    out = s.output_location("demo", "P001#S1", "t1*/brainmask.nii")
    assert out == demo.storage / "demo/P001/S1/t1_trio_mprage/brainmask.nii"
    write(out, b"mask")
    (info,) = s.index_files([out], tags=["seg"])
    assert (info.path, info.tags, info.size) == ("t1_trio_mprage/brainmask.nii", ("seg",), 4)
    with pytest.raises(ArchiveError, match="not inside a study folder"):
        s.index_files([demo.storage / "demo" / "P001" / "loose.nii"])


def test_output_location_errors(demo):
    s = demo.session("member")
    with pytest.raises(ArchiveError, match="matches 0 folders"):
        s.output_location("demo", "P001#S1", "nothing*/x.nii")
    with pytest.raises(ArchiveError, match="matches 2 folders"):
        s.output_location("demo", "P001#S1", "*t*/x.nii")
    with pytest.raises(ArchiveError, match="wildcards"):
        s.output_location("demo", "P001#S1", "t1/x*.nii")
    with pytest.raises(NotFound, match="no study"):
        s.output_location("demo", "P001#S7", "t1/x.nii")
    folder = s.output_location("demo", "P001#", "annotations", folder=True)
    assert folder.is_dir() and folder == demo.storage / "demo/P001/annotations"


def test_delete_files_removes_entry_and_file(demo):
    s = demo.session("member")
    path = demo.storage / "demo/P001/S1/dwi/s003.nii.gz"
    assert s.delete_files([str(path)]) == 1
    assert not path.exists()
    assert s.select_files("demo", "dwi/*") == []
    with pytest.raises(NotFound):
        s.delete_files(["P001#S1/dwi/s003.nii.gz"], project="demo")
    assert leftovers(demo.storage) == []


def test_delete_subjects_and_studies(demo):
    s = demo.session("member")
    assert s.delete_refs("demo", ["P001#S2", "P002", "P002#S1"]) == 2
    assert [r.ref for r in s.studies("demo")] == ["P001#S1", "P003#S1"]
    assert not (demo.storage / "demo/P002").exists()
    assert not (demo.storage / "demo/P001/S2").exists()
    assert count(demo, Subject) == 2 and count(demo, Study) == 2
    with pytest.raises(NotFound, match="no subject 'P404'"):
        s.delete_refs("demo", ["P001", "P404"])
    assert count(demo, Subject) == 2  # nothing deleted when one reference is wrong
    assert leftovers(demo.storage) == []


def test_tags_on_subjects_and_studies(demo):
    s = demo.session("member")
    assert s.tags("demo", "P003#S1") == ["control", "young"]
    assert s.tags("demo", "P002") == ["vip"]
    s.tag("demo", "P003#S1", "young", remove=True)
    assert s.tags("demo", "P003#S1") == ["control"]
    assert s.tag("demo", "P003#S1", "control") == 0  # already there


def test_documents_and_metadata(demo):
    s = demo.session("member")
    s.set_metadata("demo", "P001#S1", "radiology", {"finding": "none", "score": [1, 2]})
    assert s.metadata("demo", "P001#S1", "radiology")["score"] == [1, 2]
    s.set_metadata("demo", "P001#S1", "radiology", {"finding": "lesion"})
    assert s.metadata("demo", "P001#S1", "radiology") == {"finding": "lesion"}
    s.save_document("batch", "preproc", {"jobs": ["bet"]}, project="demo")
    s.save_document("settings", "viewer", {"layout": "1x3"}, personal=True)
    assert s.documents("batch", project="demo") == ["preproc"]
    assert s.document("settings", "viewer", personal=True) == {"layout": "1x3"}
    with pytest.raises(NotFound):
        demo.session("owner").document("settings", "viewer", personal=True)
    with pytest.raises(ArchiveError, match="kind"):
        s.save_document("junk", "x", {})


def test_notifications(demo):
    owner, reader = demo.session("owner"), demo.session("reader")
    owner.notify("reader", "your data is ready", project="demo")
    (note,) = reader.notifications(mark_seen=True)
    assert note["message"] == "your data is ready"
    assert reader.notifications() == []


def test_names_are_checked(demo, tmp_path, write):
    s = demo.session("member")
    src = write(tmp_path / "x.nii")
    for ref, path in (("P#1#S1", "a/x.nii"), ("P1#S*", "a/x.nii"), ("P1#S1", ".nora-tmp/x"),
                      ("..#S1", "x.nii")):
        with pytest.raises(ArchiveError):
            s.add_file("demo", src, ref, path)
    assert not any(p.name.startswith("P1") for p in (demo.storage / "demo").iterdir())


def test_project_lifecycle(admin):
    admin.create_project("tmp1")
    root = admin.project("tmp1").root
    assert root.is_dir()
    with pytest.raises(ArchiveError, match="exists already"):
        admin.create_project("TMP1")
    admin.delete_project("tmp1")
    assert not root.exists() and admin.projects() == []
    assert not [p for p in os.listdir(admin.archive.storage) if p.startswith(".nora")]
