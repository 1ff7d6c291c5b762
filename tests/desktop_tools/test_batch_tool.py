"""The batch tool: jobs from the menu, argument rows that follow the code, live previews of
FILE patterns, save/load in the archive and as JSON, launch on the selection (local executor),
with the job monitor showing the jobs."""

from __future__ import annotations

import json

import pytest

from napari_nora.widgets.batch_tool import BatchToolWidget

SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
CODE = "cat $f1 > $o1"


def _menu_action(widget, text):
    for action in widget.jobs_editor.add_menu.actions():
        if action.text() == text:
            return action
        if action.menu() is not None:
            for sub in action.menu().actions():
                if sub.text() == text:
                    return sub
    raise AssertionError(f"no menu entry {text!r}")


def compose(qtbot, widget, code=CODE, pattern="t1_trio*/s0*.nii",
            out="derived/t1cat.nii TAG(cat)"):
    """A BASH job typed as a user would: from the menu, code, then the rows' fields."""
    _menu_action(widget, "Generic BASH").trigger()
    widget.jobs_editor.code.setPlainText(code)
    qtbot.waitUntil(lambda: "f1" in widget.jobs_editor.rows and "o1" in widget.jobs_editor.rows, timeout=3000)
    qtbot.keyClicks(widget.jobs_editor.rows["f1"].text, pattern)
    qtbot.keyClicks(widget.jobs_editor.rows["o1"].text, out)
    widget.name.setText("concat t1")
    return widget


@SQLITE
def test_rows_follow_the_code_and_previews_show_matches(qtbot, idle, make_context):
    ctx = make_context()
    ctx.selection = ["P001#S1", "P002#S1", "P003#S1"]
    w = BatchToolWidget(ctx)
    qtbot.addWidget(w)
    _menu_action(w, "Generic BASH").trigger()
    w.jobs_editor.code.setPlainText("cat $f1 $f2 > $o1; echo $n1 $s1")
    qtbot.waitUntil(lambda: list(w.jobs_editor.rows) == ["f1", "f2", "o1", "s1", "n1"], timeout=3000)
    assert w.jobs_editor.rows["o1"].kind.currentText() == "OUT"
    assert [w.jobs_editor.rows["n1"].kind.itemText(i) for i in range(2)] == ["NUMERIC", "LOGICAL"]
    qtbot.keyClicks(w.jobs_editor.rows["f2"].text, "flair*")
    w.jobs_editor.code.setPlainText("cat $f1 > $o1")  # $f2, $s1, $n1 gone: their rows go
    qtbot.waitUntil(lambda: list(w.jobs_editor.rows) == ["f1", "o1"], timeout=3000)
    w.jobs_editor.code.setPlainText("cat $f1 $f2 > $o1")  # $f2 back, with what was typed
    qtbot.waitUntil(lambda: "f2" in w.jobs_editor.rows, timeout=3000)
    assert w.jobs_editor.rows["f2"].text.text() == "flair*"

    qtbot.keyClicks(w.jobs_editor.rows["f1"].text, "t1_trio*/s0*.nii")
    qtbot.waitUntil(lambda: "2/3 match (3 files)" in w.jobs_editor.rows["f1"].preview.text(), timeout=10000)
    assert "P003" in w.jobs_editor.rows["f1"].preview.text()  # the subject without a match is named
    assert "P001: S1/t1_trio_mprage/s002.nii" in w.jobs_editor.rows["f1"].preview.toolTip()
    ctx.selection = ["P001#S1"]  # the preview follows the selection
    qtbot.waitUntil(lambda: "1/1 match (2 files)" in w.jobs_editor.rows["f1"].preview.text(), timeout=10000)
    w.jobs_editor.rows["f1"].study.setEditText("last")  # P001's last study has no t1_trio
    qtbot.waitUntil(lambda: "0/1 match" in w.jobs_editor.rows["f1"].preview.text(), timeout=10000)
    idle(w)
    w.update_previews()  # a preview is running when the selection is emptied
    ctx.selection = []
    w.update_previews()
    idle(w)  # the running preview's answer is dropped
    assert w.jobs_editor.rows["f1"].preview.text() == "select subjects or studies to preview"


def test_save_and_load_in_the_archive_and_as_json(qtbot, make_context, tmp_path):
    ctx = make_context()
    w = compose(qtbot, BatchToolWidget(ctx))
    qtbot.addWidget(w)
    _menu_action(w, "nora.sleep").trigger()
    w.jobs_editor.rows["n1"].text.setText("2")
    w.jobs_editor.rows["n1"].text.textEdited.emit("2")
    w.cpus.setValue(2)
    assert w.save_to_archive() == "concat t1"
    stored = ctx.session.document("batch", "concat t1", project="demo")
    assert [j["type"] for j in stored["jobs"]] == ["bash", "function"]
    assert stored["jobs"][0]["code"] == CODE
    assert stored["jobs"][0]["args"][1]["name"] == "derived/t1cat.nii TAG(cat)"
    assert stored["jobs"][1]["args"] == [{"type": "NUMERIC", "var": "n1", "value": 2}]
    assert stored["resources"]["cpus"] == 2

    other = BatchToolWidget(make_context())
    qtbot.addWidget(other)
    assert other.saved.findText("concat t1") >= 0
    assert other.load_saved("concat t1")
    assert other.document()["jobs"] == stored["jobs"] and other.cpus.value() == 2
    assert list(other.jobs_editor.rows) == ["f1", "o1"]  # the first job is shown
    other.jobs_editor.job_list.setCurrentRow(1)
    assert other.jobs_editor.rows["n1"].text.text() == "2"
    assert other.jobs_editor.code.isHidden()  # a function job has no code
    other.jobs_editor.add_argument("STRING")  # ... but may take more arguments
    assert list(other.jobs_editor.rows) == ["s1", "n1"]

    path = w.save_json(tmp_path / "b.json")
    assert json.loads(path.read_text())["jobs"] == stored["jobs"]
    fresh = BatchToolWidget(make_context())
    qtbot.addWidget(fresh)
    assert fresh.load_json(path) and fresh.document()["jobs"] == stored["jobs"]
    (tmp_path / "bad.json").write_text('{"name": "x", "jobs": [{"type": "bash"}]}')
    assert not fresh.load_json(tmp_path / "bad.json")
    assert "needs 'code'" in fresh.status.text()
    assert fresh.document()["jobs"] == stored["jobs"]  # a bad file changes nothing
