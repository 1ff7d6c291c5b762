"""One argument row of the batch tool: ``$f1`` FILE pattern + study, ``$o1`` OUT name (with
``TAG(name)``) + study, ``$p1`` PATHOUT, ``$s1`` STRING/OPTION, ``$n1`` NUMERIC/LOGICAL.

A row edits one argument dict of the batch document and emits ``changed`` when the user edits
it; FILE rows show the live preview the batch tool computes for them.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtGui import QDoubleValidator
from qtpy.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QLabel, QLineEdit, QSizePolicy,
                            QWidget)

from napari_nora.widgets.batch_compose import LETTER_TYPES, STUDY_SELECTORS, default_arg

PLACEHOLDER = {"FILE": "pattern, e.g. t1*/s0*.nii", "OUT": "name, e.g. derived/t1.nii TAG(copy)",
               "PATHOUT": "folder, e.g. derived/fsl", "STRING": "text", "OPTION": "value",
               "NUMERIC": "number"}


class ArgRow(QWidget):
    """Editor of one argument (``arg``: a dict of the batch document, with its ``var``)."""

    changed = Signal(str)  # the variable

    def __init__(self, arg: dict, parent=None):
        super().__init__(parent)
        self.var = arg["var"]
        self._arg = dict(arg)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 2, 0, 2)
        self.label = QLabel(f"${self.var}")
        self.label.setMinimumWidth(28)
        self.kind = QComboBox()
        self.kind.addItems(LETTER_TYPES[self.var[0]])
        self.kind.setEnabled(len(LETTER_TYPES[self.var[0]]) > 1)
        self.text = QLineEdit()
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.study = QComboBox()
        self.study.setEditable(True)
        self.study.addItems(STUDY_SELECTORS)
        self.study.setToolTip("study reference: first, last, all (FILE only), this (study level), "
                              "N, -N, with filters tag:NAME desc:PATTERN; empty: first at "
                              "subject level, this at study level")
        self.study.lineEdit().setPlaceholderText("study")
        self.study.setMinimumWidth(110)
        self.choices = QLineEdit()
        self.choices.setPlaceholderText("choices: a, b, c")
        self.check = QCheckBox("true")
        self.preview = QLabel("")
        self.preview.setWordWrap(True)
        self.preview.setStyleSheet("color: gray")
        grid.addWidget(self.label, 0, 0)
        grid.addWidget(self.kind, 0, 1)
        grid.addWidget(self.text, 0, 2)
        grid.addWidget(self.check, 0, 2)
        grid.addWidget(self.study, 0, 3)
        grid.addWidget(self.choices, 0, 3)
        grid.addWidget(self.preview, 1, 2, 1, 2)
        grid.setColumnStretch(2, 1)
        self.set_arg(arg)
        self.kind.currentTextChanged.connect(self._on_kind_changed)
        self.text.textEdited.connect(self._emit)
        self.study.editTextChanged.connect(self._emit)
        self.choices.textEdited.connect(self._emit)
        self.check.toggled.connect(self._emit)

    # -- state ----------------------------------------------------------------------------
    def set_arg(self, arg: dict) -> None:
        """Show ``arg`` (no ``changed`` signal)."""
        self._arg = dict(arg)
        kind = arg["type"]
        widgets = (self.kind, self.text, self.study, self.choices, self.check)
        for w in widgets:
            w.blockSignals(True)
        self.kind.setCurrentText(kind)
        if kind == "FILE":
            self.text.setText(arg.get("pattern", ""))
        elif kind in ("OUT", "PATHOUT"):
            self.text.setText(arg.get("name", ""))
        elif kind == "LOGICAL":
            self.check.setChecked(bool(arg.get("value")))
        else:
            value = arg.get("value")
            self.text.setText("" if value is None else str(value))
        self.study.setEditText(arg.get("study", ""))
        self.choices.setText(", ".join(str(c) for c in arg.get("choices") or []))
        self.text.setPlaceholderText(PLACEHOLDER.get(kind, ""))
        self.text.setValidator(QDoubleValidator() if kind == "NUMERIC" else None)
        self.text.setVisible(kind != "LOGICAL")
        self.check.setVisible(kind == "LOGICAL")
        self.study.setVisible(kind in ("FILE", "OUT", "PATHOUT"))
        self.choices.setVisible(kind == "OPTION")
        self.preview.setVisible(kind == "FILE")
        for w in widgets:
            w.blockSignals(False)

    def arg(self) -> dict:
        """The argument as the batch document holds it."""
        kind = self.kind.currentText()
        arg = {"type": kind, "var": self.var}
        study = self.study.currentText().strip()
        text = self.text.text().strip()
        if kind == "FILE":
            arg["pattern"] = text
        elif kind in ("OUT", "PATHOUT"):
            arg["name"] = text
        elif kind == "LOGICAL":
            arg["value"] = self.check.isChecked()
        elif kind == "NUMERIC":
            arg["value"] = _number(text)
        else:
            arg["value"] = text
        if kind == "OPTION":
            arg["choices"] = [c.strip() for c in self.choices.text().split(",") if c.strip()]
        if kind in ("FILE", "OUT", "PATHOUT") and study:
            arg["study"] = study
        return arg

    def set_preview(self, text: str, files: list[str] | None = None, *, ok: bool = True) -> None:
        self.preview.setText(text)
        self.preview.setStyleSheet("color: gray" if ok else "color: #d9534f")
        self.preview.setToolTip("\n".join(files or []) or text)

    # -- events ---------------------------------------------------------------------------
    def _on_kind_changed(self, kind: str) -> None:
        self.set_arg(default_arg(self.var, kind))
        self._emit()

    def _emit(self, *_) -> None:
        self.changed.emit(self.var)


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text  # parse_batch says clearly which argument is not a number
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value
