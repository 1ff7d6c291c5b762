"""The batch JSON, variable substitution and resolution (no scheduler involved)."""

from __future__ import annotations

import subprocess

import pytest

from nora_server.batch.model import BatchError, parse_batch, split_tags
from nora_server.batch.resolve import (DirectoryFiles, MissingInputError, StudyInfo, Target,
                                       match_files, resolve_job, select_studies)
from nora_server.batch.substitute import referenced_vars, substitute


def test_arguments_bind_numbered_variables_per_letter():
    b = parse_batch({"name": "b", "level": "study", "jobs": [{
        "type": "bash", "code": "x $f1 $f2 $o1 $p1 $s1 $s2 $n1 $n2",
        "args": [{"type": "FILE", "pattern": "a*"}, {"type": "OUT", "name": "o.nii TAG(x, y)"},
                 {"type": "FILE", "pattern": "b*"}, {"type": "PATHOUT", "name": "dir"},
                 {"type": "STRING", "value": "s"}, {"type": "OPTION", "value": "fast",
                                                    "choices": ["fast", "slow"]},
                 {"type": "NUMERIC", "value": "2.5"}, {"type": "LOGICAL", "value": "yes"}]}]})
    args = b.jobs[0].args
    assert [a.var for a in args] == ["f1", "o1", "f2", "p1", "s1", "s2", "n1", "n2"]
    assert args[1].name == "o.nii" and args[1].tags == ("x", "y")
    assert args[6].value == 2.5 and args[7].value is True
    assert parse_batch(b.to_dict()) == b  # round trip through JSON form
    assert b.to_dict()["jobs"][0]["args"][5] == {"type": "OPTION", "var": "s2",
                                                 "value": "fast", "choices": ["fast", "slow"]}


@pytest.mark.parametrize("doc, words", [
    ({"level": "patient", "jobs": [{}]}, "level"),
    ({"jobs": []}, "non-empty"),
    ({"jobs": [{"type": "perl", "code": "x"}]}, "type must be"),
    ({"jobs": [{"type": "bash", "code": "cp $f1 $o1",
                "args": [{"type": "FILE", "pattern": "a"}]}]}, "$o1"),
    ({"jobs": [{"type": "bash", "code": "x", "args": [{"type": "OUT", "name": "a/*.nii"}]}]},
     "without wildcards"),
    ({"jobs": [{"type": "bash", "code": "x", "args": [{"type": "OUT", "name": "../x.nii"}]}]},
     "'..'"),
    ({"jobs": [{"type": "bash", "code": "x", "args": [{"type": "NUMERIC", "value": "ten"}]}]},
     "needs a number"),
    ({"jobs": [{"type": "bash", "code": "x", "args": [{"type": "OPTION", "value": "c",
                                                      "choices": ["a", "b"]}]}]}, "not one of"),
    ({"jobs": [{"type": "function", "args": []}]}, "needs 'function'"),
])
def test_invalid_batches_say_what_is_wrong(doc, words):
    with pytest.raises(BatchError, match=None) as err:
        parse_batch(doc)
    assert words in str(err.value)


def test_split_tags():
    assert split_tags("seg/mask.nii TAG(seg)") == ("seg/mask.nii", ("seg",))
    assert split_tags("plain.nii") == ("plain.nii", ())


def test_bash_substitution_is_one_word_per_value(tmp_path):
    evil = tmp_path / "a b; touch PWNED 'q\" $(id).nii"
    evil.write_text("data")
    out = tmp_path / "out dir" / "o.nii"
    out.parent.mkdir()
    code = substitute("cp $f1 ${o1} && echo $n1 $s1 > $o1.txt", {
        "f1": [str(evil)], "o1": str(out), "n1": True, "s1": "$(rm -rf /)"}, language="bash")
    subprocess.run(["bash", "-c", code], check=True, cwd=tmp_path)
    assert out.read_text() == "data"
    assert (tmp_path / "out dir" / "o.nii.txt").read_text() == "1 $(rm -rf /)\n"
    assert not (tmp_path / "PWNED").exists()


def test_python_substitution_gives_literals():
    code = substitute("a = $f1\nb = $f2\nc = $n1\nd = $s1", {
        "f1": ["/x'y.nii"], "f2": ["/a", "/b"], "n1": 3, "s1": "it's"}, language="python")
    ns: dict = {}
    exec(code, ns)
    assert (ns["a"], ns["b"], ns["c"], ns["d"]) == ("/x'y.nii", ["/a", "/b"], 3, "it's")


def test_only_job_variables_are_replaced():
    assert referenced_vars("echo $f1 ${o2} $HOME $$ \\$f3 $f10x $s1") == {"f1", "o2", "s1"}
    assert substitute("echo $HOME \\$f1 $f1", {"f1": ["x"]}, language="bash") == \
        "echo $HOME \\$f1 x"


def test_like_patterns():
    files = ["t1_mprage/s001.nii", "t1_mprage/s0011.nii", "T1x/s002.nii", "t2/s001.nii"]
    assert match_files("t1*/s0__.nii", files) == ["T1x/s002.nii", "t1_mprage/s001.nii"]
    assert match_files("t2/s001.nii", files) == ["t2/s001.nii"]


STUDIES = (StudyInfo("b", "2021-05-01", ("ct",), "CT head"),
           StudyInfo("a", "2020-01-01", ("mr", "baseline"), "MRI head"),
           StudyInfo("c", "2022-02-02", ("mr",), "MRI follow-up"))
SUBJECT = Target("p", "S1", STUDIES)


@pytest.mark.parametrize("selector, ids", [
    ("first", ["a"]), ("last", ["c"]), ("all", ["a", "b", "c"]), ("2", ["b"]), ("-1", ["c"]),
    ("4", []), ("tag:mr", ["a"]), ("last tag:mr", ["c"]), ("all tag:MR", ["a", "c"]),
    ("first desc:CT*", ["b"]), ("", ["a"]),
])
def test_study_selectors_by_date_and_tag(selector, ids):
    assert [s.id for s in select_studies(SUBJECT, selector, level="subject")] == ids


def test_this_study_at_study_level():
    t = Target("p", "S1", STUDIES, "b")
    assert [s.id for s in select_studies(t, "", level="study")] == ["b"]
    assert [s.id for s in select_studies(t, "first", level="study")] == ["a"]


def _tree(root):
    for study, rel in [("a", "t1/s001.nii"), ("a", "t1/s002.nii"), ("c", "t1/s009.nii")]:
        p = root / "p" / "S1" / study / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)


def test_resolve_files_and_outputs(tmp_path):
    _tree(tmp_path)
    job = parse_batch({"jobs": [{"type": "bash", "code": "x $f1 $f2 $o1 $p1", "args": [
        {"type": "FILE", "pattern": "t1/s*.nii", "study": "first"},
        {"type": "FILE", "pattern": "t1/*.nii", "study": "all tag:mr"},
        {"type": "OUT", "name": "seg/mask.nii TAG(seg)", "study": "last"},
        {"type": "PATHOUT", "name": "fs/run1", "study": "last"}]}]}).jobs[0]
    v = resolve_job(job, SUBJECT, DirectoryFiles(str(tmp_path)), level="subject")
    base = tmp_path / "p" / "S1"
    assert v["f1"] == [str(base / "a/t1/s001.nii"), str(base / "a/t1/s002.nii")]
    assert v["f2"] == v["f1"] + [str(base / "c/t1/s009.nii")]
    assert v["o1"] == str(base / "c/seg/mask.nii") and (base / "c/seg").is_dir()
    assert (base / "c/fs/run1").is_dir()


def test_missing_input_names_pattern_subject_and_studies(tmp_path):
    _tree(tmp_path)
    job = parse_batch({"jobs": [{"name": "seg", "type": "bash", "code": "x $f1",
                                 "args": [{"type": "FILE", "pattern": "flair*/*.nii"}]}]}).jobs[0]
    with pytest.raises(MissingInputError) as err:
        resolve_job(job, SUBJECT, DirectoryFiles(str(tmp_path)), level="subject")
    msg = str(err.value)
    assert "'seg'" in msg and "flair*/*.nii" in msg and "S1" in msg and "a (2020-01-01), b (2021-05-01), c" in msg
    job2 = parse_batch({"jobs": [{"type": "bash", "code": "x $f1", "args": [
        {"type": "FILE", "pattern": "*", "study": "tag:pet"}]}]}).jobs[0]
    with pytest.raises(MissingInputError, match="no study selected"):
        resolve_job(job2, SUBJECT, DirectoryFiles(str(tmp_path)), level="subject")
