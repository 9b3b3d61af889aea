"""Reading rows and mapping their columns: the light part of ``tane curate``'s input
handling, which a recipe's ``source:`` uses too without loading the curate steps (their
numpy, rapidfuzz and numba imports cost a run a third of a second of start-up)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from tane.errors import TaneError, json_problem

FIELD_TARGETS = ("instruction", "input", "output", "id", "provenance")
# columns that usually hold what tane calls instruction / output, for the hints below
LIKELY = {"instruction": ("prompt", "question", "query", "instruction_ja", "user", "human",
                          "text", "input"),
          "output": ("response", "answer", "completion", "output_ja", "assistant", "gpt",
                     "chosen")}


def check_column(rows: Sequence[tuple], col: str, path: Path,
                 advice: Callable[[dict[str, None]], str]) -> None:
    """Rows none of which has the column ``col`` would all be dropped (``missing_field``):
    an empty output that looks like a success. Fail instead, listing the columns found;
    ``advice(columns found)`` says how to name another column. ``tane curate`` and
    ``tane dedup`` make this same check."""
    if not rows or any(col in obj for _, _, obj in rows):
        return
    found: dict[str, None] = {}
    for _, _, obj in rows[:1000]:
        found.update(dict.fromkeys(obj))
    cols = ", ".join(list(found)[:30]) + (", …" if len(found) > 30 else "")
    raise TaneError(f"no row has a column {col!r}; columns found: {cols or 'none'}; "
                    f"{advice(found)}", path=str(path), field="field")


def likely_column(target: str, found: dict[str, None] | Sequence[str]) -> str | None:
    """The first of the columns found that usually holds ``target``, or None."""
    return next((c for c in LIKELY.get(target, ()) if c in found), None)


def parse_field_map(specs: Sequence[str] | dict[str, str] | None) -> dict[str, str]:
    """``["instruction=prompt", "output=response"]`` -> ``{"instruction": "prompt", ...}``."""
    if not specs:
        return {}
    if isinstance(specs, dict):
        items = list(specs.items())
    else:
        items = []
        for spec in specs:
            target, sep, column = spec.partition("=")
            if not sep or not target.strip() or not column.strip():
                raise TaneError(f"--field wants TANE_FIELD=COLUMN, got {spec!r}",
                                field="field")
            items.append((target.strip(), column.strip()))
    out: dict[str, str] = {}
    for target, column in items:
        if target not in FIELD_TARGETS:
            raise TaneError(f"--field {target}={column}: {target!r} is not one of "
                            f"{', '.join(FIELD_TARGETS)}", field="field")
        if target in out:
            raise TaneError(f"--field {target} given twice", field="field")
        out[target] = column
    return out


def row_values(obj: dict, names: dict[str, str]
               ) -> tuple[str, str, str | None, dict, str | int | None] | str:
    """(instruction, input, output, provenance, id) of a row, or the name of the column
    that is missing or wrong."""
    col = {t: names.get(t, t) for t in FIELD_TARGETS}
    inst = obj.get(col["instruction"])
    if not isinstance(inst, str):
        return col["instruction"]
    inp = obj.get(col["input"]) or ""
    out = obj.get(col["output"])
    if not isinstance(inp, str):
        return col["input"]
    if out is not None and not isinstance(out, str):
        return col["output"]
    prov = obj.get(col["provenance"])
    rid = obj.get(col["id"])
    return (inst, inp, out, prov if isinstance(prov, dict) else {},
            rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None)


def read_jsonl_rows(path: Path) -> list[tuple[int, str, dict]]:
    """(line number, original line text, parsed object) for every non-blank line."""
    rows = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TaneError(f"invalid JSON: {json_problem(exc)}",
                                    path=str(path), line=lineno) from None
                if not isinstance(obj, dict):
                    raise TaneError(f"expected a JSON object, got {type(obj).__name__}",
                                    path=str(path), line=lineno)
                rows.append((lineno, line, obj))
    except FileNotFoundError:
        raise TaneError("file not found", path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise TaneError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "save the file as UTF-8", path=str(path)) from None
    return rows
