"""The review file's shape: its columns, the row and table types that export writes and
import reads, shared by the XLSX and CSV readers/writers (:mod:`.xlsx`, :mod:`.csvio`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.revisions import REJECTED_PREFIX

__all__ = ["COLUMNS", "EDITABLE", "HELP", "META_SHEET", "REJECTED_PREFIX", "SHEET", "FormulaText",
           "Row", "Table", "norm"]

COLUMNS = ("id", "instruction", "input", "output", "method", "judge_score", "judge_reason",
           "drop_reason", "status", "note")
EDITABLE = ("instruction", "input", "output", "status", "note")
SHEET = "review"
META_SHEET = "_meta"
HELP = {
    "id": "record id: do not change",
    "method": "generation method (read only)",
    "judge_score": "judge score from provenance (read only)",
    "judge_reason": "judge reason from provenance (read only)",
    "drop_reason": "why the pipeline dropped this row (read only; --include-dropped)",
    "status": "keep, drop or edit (blank: no decision; changed text counts as edit)",
    "note": "free text, stored with the revision",
    "answers": "the web reviewers' answers (tane review serve; read only)",
}


@dataclass
class Row:
    id: str
    values: dict[str, str]      # column -> text shown
    locked: bool = False        # machine-dropped context rows
    raw: dict[str, Any] = field(default_factory=dict)   # current fields, uncut
    machine: dict[str, str] = field(default_factory=dict)  # pipeline's fields, as shown


class FormulaText(str):
    """A cell that held a formula (readers return it so import can refuse it)."""


@dataclass
class Table:
    """A review file as read: what import validates."""

    path: Path
    sheet: str                  # for error messages: "Sheet!Column"
    header: list[str]
    rows: list[tuple[int, list[Any]]]   # (line/row number, cell values)
    run_id: str | None
    run_id_where: tuple[int, str] = (2, "_meta!run_id")
    review_base: str | None = None  # "SEQ:EXPORT_ID" (files exported before: None)


def norm(text: Any) -> str:
    return ("" if text is None else str(text)).replace("\r\n", "\n")
