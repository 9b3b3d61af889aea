"""Reading an eval directory for :mod:`.report`: its contract files (JSON Lines, each
line checked for the fields the report needs) and a difficulty table. Every problem is a
one-line error naming the file, line and field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

from ..errors import TaneError, json_problem

EVAL_JSON, ITEMS, ANSWERS = "eval.json", "items.jsonl", "answers.jsonl"
GRADES, COMPARISONS = "grades.jsonl", "comparisons.jsonl"
REQUIRED = {
    ITEMS: ("id",),
    ANSWERS: ("item_id", "model"),
    GRADES: ("item_id", "model", "judge", "scale", "turn", "status"),
    COMPARISONS: ("item_id", "a", "b", "judge"),
}

def read_rows(path: Path) -> list[dict[str, Any]] | None:
    """The rows of one contract file, or None when it is missing; a bad line or a row
    without a required field is a one-line error naming the file, line and field."""
    if not path.is_file():
        return None
    return [row for _, row in _objects(path, REQUIRED.get(path.name, ()))]


def _objects(path: Path, need: tuple[str, ...] | list[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file; a line that is
    not a JSON object or lacks a field of ``need`` is a one-line error naming it."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaneError(f"invalid JSON: {json_problem(e)}", path=str(path),
                                line=n) from None
            if not isinstance(row, dict):
                raise TaneError("expected a JSON object", path=str(path), line=n)
            for k in need:
                if k not in row:
                    raise TaneError("missing", path=str(path), line=n, field=k)
            yield n, row


def read_difficulty(path: Path) -> dict[str, float]:
    """Item id -> difficulty from a JSON Lines table (``{"item_id": ..., "difficulty":
    number}`` a line; higher: the compared models do better against the baseline there).
    A bad line, a missing field, a value that is not a finite number or an item given
    twice is a one-line error naming the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise TaneError("no such difficulty table", path=str(path))
    out: dict[str, float] = {}
    for n, row in _objects(path, ("item_id", "difficulty")):
        v = row["difficulty"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TaneError(f"not a finite number: {v!r}", path=str(path), line=n,
                            field="difficulty")
        key = str(row["item_id"])
        if key in out:
            raise TaneError(f"item {key!r} given twice", path=str(path), line=n,
                            field="item_id")
        out[key] = float(v)
    if not out:
        raise TaneError("the difficulty table has no rows", path=str(path))
    return out


def load(evaldir: Path) -> tuple[dict[str, Any], dict[str, list | None], list[str]]:
    """(eval.json, {file: rows or None}, notes about what is missing)."""
    if not evaldir.is_dir():
        raise TaneError("no such eval directory", path=str(evaldir))
    notes: list[str] = []
    meta: dict[str, Any] = {}
    p = evaldir / EVAL_JSON
    if p.is_file():
        try:
            meta = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TaneError(f"invalid JSON: {json_problem(e)}", path=str(p), line=e.lineno) from None
    else:
        notes.append("eval.json is missing: benchmark, model and judge details unknown.")
    files = {name: read_rows(evaldir / name) for name in (ITEMS, ANSWERS, GRADES, COMPARISONS)}
    missing = {
        ITEMS: "items.jsonl is missing: no categories or questions.",
        ANSWERS: "answers.jsonl is missing: no answer counts or lengths "
                 "(run `tane eval answer`).",
        GRADES: "grades.jsonl is missing: no absolute scores (run `tane eval grade`).",
        COMPARISONS: "comparisons.jsonl is missing: no pairwise results "
                     "(run `tane eval compare`).",
    }
    notes += [msg for name, msg in missing.items() if files[name] is None]
    return meta, files, notes
