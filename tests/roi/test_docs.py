"""The examples in the docstrings and in docs/roi.md run and give what they show."""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import napari_nora.roi

MODULES = [m.name for m in pkgutil.iter_modules(napari_nora.roi.__path__,
                                                "napari_nora.roi.")] + ["napari_nora.roi"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docs_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).parents[2] / "docs" / "roi.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/roi.md", "exec"), {})
    assert (tmp_path / "stats.csv").read_text().startswith("roi,image")
