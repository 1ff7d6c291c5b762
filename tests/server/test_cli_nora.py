"""``nora``: NORA-compatible flags, called as ``main([...])``."""

from __future__ import annotations

import json

import pytest

from nora_server.cli.nora import main


@pytest.fixture
def nora(demo, cli):
    def call(*args, user="admin"):
        return cli(main, *args, user=user)

    return call


def lines(out: str) -> list[str]:
    return out.strip().splitlines()


def test_select(nora, demo):
    rc, out, _ = nora("-p", "demo", "-s", "t1*/s0*.nii")
    root = demo.storage / "demo"
    assert rc == 0 and lines(out) == [str(root / "P001/S1/t1_trio_mprage/s001.nii"),
                                      str(root / "P001/S1/t1_trio_mprage/s002.nii"),
                                      str(root / "P002/S1/t1_trio_fast/s010.nii")]


def test_select_json(nora, demo):
    rc, out, _ = nora("-p", "demo", "--select", "P001#*/*/s00_.nii", "--json")
    doc = json.loads(out)
    assert list(doc) == ["P001#S1", "P001#S2"] and len(doc["P001#S1"]) == 2
    rc, out, _ = nora("-p", "demo", "-s", "*/s001.nii", "-j", "--byfilename")
    assert list(json.loads(out)) == ["s001.nii"] and len(json.loads(out)["s001.nii"]) == 2


@pytest.mark.parametrize("args", [["-s", "--json", "*/s001.nii"], ["-s", "-j", "*/s001.nii"],
                                  ["--select", "--json", "--byfilename", "*/s001.nii"]])
def test_select_flags_in_noras_order(nora, args):
    """NORA's usage writes ``--select [--json] [--byfilename] PATTERN``."""
    rc, out, err = nora("-p", "demo", *args)
    assert rc == 0, err
    keys = list(json.loads(out))
    assert keys == (["s001.nii"] if "--byfilename" in args else ["P001#S1", "P001#S2"])


def test_add_copies_and_tags(nora, demo, tmp_path, write):
    a, b = write(tmp_path / "a.nii"), write(tmp_path / "b.nii")
    rc, out, err = nora("-p", "demo", "-a", a, b, "--to", "P009#S1/anat", "--addtag", "x,y",
                        user="member")
    assert rc == 0, err
    assert lines(out) == [str(demo.storage / "demo/P009/S1/anat/a.nii"),
                          str(demo.storage / "demo/P009/S1/anat/b.nii")]
    rc, out, _ = nora("-p", "demo", "-q", "SELECT COUNT(*) AS n FROM file_tags WHERE tag='y'")
    assert json.loads(out) == [{"n": 2}]


def test_add_in_place_inside_a_job(nora, demo, write):
    """The NORA job idiom: compute an output location, write it, then ``nora -a $o1``."""
    rc, out, _ = nora("-p", "demo", "-o", "P001#S1/t1*/brainmask.nii", user="member")
    path = out.strip()
    write(__import__("pathlib").Path(path), b"mask")
    rc, out, err = nora("-a", path, "--addtag", "mytagname", user="member")
    assert rc == 0, err
    info = demo.session("member").file_info(path)
    assert info.tags == ("mytagname",) and info.size == 4


def test_pathout(nora, demo):
    rc, out, _ = nora("-p", "demo", "-pa", "P002#S1/results/stats", user="member")
    assert rc == 0 and out.strip() == str(demo.storage / "demo/P002/S1/results/stats")
    assert (demo.storage / "demo/P002/S1/results/stats").is_dir()


def test_tag_selection(nora, demo):
    rc, _, err = nora("-p", "demo", "--addtag", "t1w,qc", "-s", "*/s00_.nii", user="member")
    assert rc == 0, err
    s = demo.session("member")
    assert len(s.select_files("demo", tags=["qc"])) == 6  # s001 s002 s001 s004 s005 s006
    rc, _, _ = nora("-p", "demo", "--rmtag", "qc", "-s", "MPR*/*", user="member")
    assert len(s.select_files("demo", tags=["qc"])) == 4


def test_delete_files_and_subjects(nora, demo):
    rc, _, err = nora("-p", "demo", "-d", "P001#S1/dwi/s003.nii.gz",
                      str(demo.storage / "demo/P002/S1/ct/ct.nii.gz"), user="member")
    assert rc == 0, err
    assert not (demo.storage / "demo/P002/S1/ct/ct.nii.gz").exists()
    rc, _, err = nora("-p", "demo", "-dp", "P003", "P001#S2", user="member")
    assert rc == 0, err
    assert [r.ref for r in demo.session("member").studies("demo")] == ["P001#S1", "P002#S1"]


def test_createproject(nora, demo, tmp_path, write):
    rc, out, _ = nora("-c", "study2", "neuro")
    assert rc == 0 and "created project study2" in out
    write(tmp_path / "old/S1/V1/t1/x.nii")
    rc, out, err = nora("-c", "legacy", "--from", tmp_path / "old")
    assert rc == 0, err
    assert "1 subjects, 1 studies, 1 files" in out
    rc, out, _ = nora("-p", "legacy", "-s", "t1/*")
    assert lines(out) == [str(tmp_path / "old/S1/V1/t1/x.nii")]


def test_exportmeta(nora):
    rc, out, _ = nora("-p", "demo", "--exportmeta", "*", "META/radio*.json",
                      "--keys", "*.mask.volume,*.mask.diameter", user="reader")
    assert rc == 0 and lines(out)[1] == "P001,S1,20,3,,"
    # a misspelt key or a pattern that finds no JSON: said on stderr, the CSV as it is
    rc, out, err = nora("-p", "demo", "--exportmeta", "*", "META/radio*.json",
                        "--keys", "*.mask.volume,*.mask.volumen")
    assert rc == 0 and lines(out)[1].startswith("P001,S1,20")
    assert "'*.mask.volumen' matched nothing" in err and "volume'" not in err
    rc, out, err = nora("-p", "demo", "--exportmeta", "*", "META/radoi*.json")
    assert rc == 0 and lines(out) == ["subject,study"]
    assert "no readable JSON file matches 'META/radoi*.json'" in err


def test_sql_csv_admin_only(nora):
    rc, out, _ = nora("-q", "SELECT pseudonym FROM subjects ORDER BY 1", "--csv")
    assert rc == 0 and lines(out) == ["pseudonym", "P001", "P002", "P003"]
    rc, out, err = nora("-q", "SELECT 1", user="owner")
    assert rc == 1 and "only site admins" in err and out == ""
    rc, _, err = nora("-q", "DELETE FROM files")
    assert rc == 1 and "read-only" in err


def test_admin(nora):
    assert nora("--admin", "user", "add", "dora", "--full-name", "Dora")[0] == 0
    assert nora("--admin", "grant", "dora", "demo", "member")[0] == 0
    rc, out, _ = nora("--admin", "rights", "demo")
    assert json.loads(out)["dora"] == "member"
    rc, out, _ = nora("--admin", "project", "list", user="dora")
    assert [p["name"] for p in json.loads(out)] == ["demo"]
    rc, _, err = nora("--admin", "user", "add", "eve", user="dora")
    assert rc == 1 and "only site admins" in err
    rc, out, _ = nora("--admin", "help")
    assert rc == 0 and "grant USER PROJECT" in out


@pytest.mark.parametrize("args,code,message", [
    (["-p", "demo"], 2, "give exactly one of"),
    (["-s", "*"], 2, "needs -p PROJECT"),
    (["-p", "demo", "-s", "*", "-d", "x"], 2, "exactly one"),
    (["--addtag", "x"], 2, "need -s PATTERN"),
    (["-p", "nope", "-s", "*"], 1, "does not exist"),
    (["-p", "demo", "-o", "t1/x.nii"], 2, "needs a study reference"),
    (["-p", "demo", "-a", "/nonexistent/x.nii"], 1, "--to PID#SID"),
    (["-p", "demo", "-a", "/nonexistent/x.nii", "--to", "P001#S1"], 1, "no such file"),
    (["-p", "demo", "-d", "P001#S1/none.nii"], 1, "not in the archive"),
    (["-p", "demo", "-dp", "P404"], 1, "no subject 'P404'"),
    (["-p", "demo", "--addtag", "x", "-s", "nothing*"], 1, "nothing tagged"),
    (["-c", "demo"], 1, "exists already"),
    (["-p", "demo", "--exportmeta", "*", "*.json", "--keys", ","], 1, "--keys is empty"),
    (["--bogus"], 2, "unrecognized arguments"),
    (["-p", "demo", "-q", "SELECT 1", "--json"], 2, "--json goes with -s"),
    (["-p", "demo", "-s", "*", "--csv"], 2, "--csv goes with -q"),
    (["-p", "demo", "-a", "x.nii", "--rmtag", "t"], 2, "--rmtag goes with -s"),
    (["-p", "demo", "-d", "x.nii", "--addtag", "t"], 2, "--addtag goes with -a or -s"),
    (["-p", "demo", "-s", "*", "--byfilename"], 2, "--byfilename goes with --json"),
    (["-p", "demo", "-s", "*", "--json", "--addtag", "t"], 2, "one or the other"),
    (["-p", "demo", "-s", "*", "--addtag", "t", "--rmtag", "T"], 2, "same tag"),
    (["-p", "demo", "-s", "*", "--keys", "a.b"], 2, "--keys goes with --exportmeta"),
    (["-p", "demo", "-o", "P001#S1/x.nii", "--to", "P001#S1"], 2, "--to goes with -a"),
    (["-p", "demo", "-s", "*", "--rmtag", "x" * 200], 1, "longer than 128"),
])
def test_errors_are_clear_and_nonzero(nora, args, code, message):
    rc, out, err = nora(*args)
    assert rc == code and message in err and "Traceback" not in err


def test_addtag_and_rmtag_together(nora, demo):
    rc, _, err = nora("-p", "demo", "-s", "t1_trio*/*", "--addtag", "checked", "--rmtag", "good",
                      user="member")
    assert rc == 0, err
    s = demo.session("member")
    assert [f.tags for f in s.select_files("demo", "t1_trio*/*", with_tags=True)] == [
        ("checked",)] * 3


def test_a_failed_tag_change_changes_nothing(nora, demo):
    rc, _, err = nora("-p", "demo", "-s", "t1_trio*/*", "--addtag", "new",
                      "--rmtag", "x" * 200, user="member")
    assert rc == 1 and "longer than 128" in err
    assert demo.session("member").select_files("demo", tags=["new"]) == []


def test_readers_cannot_write(nora, demo, tmp_path, write):
    before = demo.session("admin").select_files("demo")
    rc, _, err = nora("-p", "demo", "-a", write(tmp_path / "a.nii"), "--to", "P001#S1",
                      user="reader")
    assert rc == 1 and "may not write" in err
    rc, _, err = nora("-p", "demo", "-dp", "P001", user="reader")
    assert rc == 1 and demo.session("admin").select_files("demo") == before


def test_no_arguments_print_the_help(nora):
    rc, out, err = nora()
    assert rc == 0 and "--select" in out and "--exportmeta" in out and err == ""
    # the commands parsed elsewhere are named too, so a user finds them
    assert all(c in out for c in ("--import", "nora pacs", "--launch", "nora jobs"))


def test_exportmeta_of_study_root_json(nora, demo, write):
    """NORA's example ``--exportmeta '*' 'nodeinfo.json'``: a JSON in the study folder."""
    s = demo.session("member")
    for ref, age in (("P001#S1", 50), ("P002#S1", 40)):
        out = s.output_location("demo", ref, "nodeinfo.json")
        write(out, b'{"patient": {"age": %d}, "scanner": "trio"}' % age)
        s.index_files([out])
    rc, out, err = nora("-p", "demo", "--exportmeta", "*", "nodeinfo.json", user="reader")
    assert rc == 0, err
    assert lines(out) == ["subject,study,nodeinfo.patient.age,nodeinfo.scanner",
                          "P001,S1,50,trio", "P002,S1,40,trio"]
    rc, out, _ = nora("-p", "demo", "--exportmeta", "P002", "nodeinfo.json",
                      "--keys", "node*.pat*.*", user="reader")
    assert lines(out) == ["subject,study,nodeinfo.patient.age", "P002,S1,40"]


def test_missing_config(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NORA_CONFIG", str(tmp_path / "none.toml"))
    assert main(["-p", "demo", "-s", "*"]) == 1
    assert "noractl init" in capsys.readouterr().err
