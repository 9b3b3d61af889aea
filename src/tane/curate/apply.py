"""`tane curate IN --recipe CURATE.yaml -o OUT.jsonl`: the curate steps over a dataset.

CURATE.yaml holds ``lang:`` and ``steps:`` (the ``curate`` stage of a recipe without
``method``). Input: any local dataset `curate/sources.py` reads (JSONL, Parquet, CSV/JSON,
a ``save_to_disk`` directory; ``split`` picks a split) with rows holding ``instruction``
and optional ``input`` / ``output`` / ``id`` / ``provenance``, or other column names
mapped with ``field_map`` (``{"instruction": "prompt", "output": "response"}``; a mapped
column that no row has is an error). The whole input is one batch (``keep: best`` ranks
all of it). Kept rows are written unchanged to OUT.jsonl (JSONL lines byte for byte,
minus a BOM; other rows as JSON objects with their original columns); dropped rows go to
OUT.rejected.jsonl with ``_drop: {reason, detail}``. Rows without a string instruction
are dropped as ``missing_field``, rows with an instruction, input or output over
``MAX_FIELD_CHARS`` characters (`tane.config.limits`) as ``too_long``. Both files are
written to temporary files and moved into place only when everything succeeded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field, ValidationError

from tane.config.limits import MAX_FIELD_CHARS
from tane.curate.dedup import rejected_path_for, write_atomically
from tane.curate.rows import (FIELD_TARGETS, check_column, likely_column,  # noqa: F401
                              parse_field_map, row_values)
from tane.curate.sources import read_rows
from tane.curate.stage import build_steps, run_batch
from tane.curate.steps import Fields
from tane.errors import TaneError
from tane.recipe import CurateStep, Strict, read_yaml_mapping
from tane.yaml_errors import error_at, field_loc, line_of


class CurateConfig(Strict):
    lang: Literal["ja", "en", "any"] = "ja"
    steps: list[CurateStep] = Field(min_length=1)


@dataclass
class CurateReport:
    rows_in: int
    kept: int
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    out_path: str = ""
    rejected_path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_curate_config(path: str | os.PathLike, seeds: Sequence[Any] = ()):
    """(CurateConfig, built steps); errors name the file, the YAML line and the field."""
    p = Path(path)
    root, data = read_yaml_mapping(p, "curate config")
    try:
        cfg = CurateConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise error_at(msg, p, root, loc) from None
    try:
        steps = build_steps(cfg.lang, cfg.steps, seeds)
    except TaneError as e:
        raise TaneError(e.message, path=str(p),
                        line=line_of(root, field_loc(e.field)) if e.field else None,
                        field=e.field) from None
    return cfg, steps


def row_fields(obj: dict, names: dict[str, str]) -> Fields | str:
    """The record view of a row, or the name of the column that is missing or wrong."""
    v = row_values(obj, names)
    if isinstance(v, str):
        return v
    inst, inp, out, prov, rid = v
    return Fields(instruction=inst, input=inp, output=out, provenance=prov, id=rid, row=obj)


def too_long(f: Fields) -> dict | None:
    """The ``too_long`` drop detail of a row with a field over the size limit, or None."""
    for name in ("instruction", "input", "output"):
        text = getattr(f, name, None)
        if isinstance(text, str) and len(text) > MAX_FIELD_CHARS:
            return {"field": name, "chars": len(text), "max": MAX_FIELD_CHARS}
    return None


def _check_instruction_column(rows: Sequence[tuple], names: dict[str, str],
                              in_path: Path) -> None:
    """No row with the instruction column: an error naming the columns found and the
    ``--field`` mappings that would likely fit."""

    def advice(found: dict[str, None]) -> str:
        hint = []
        for target in ("instruction", "output"):
            if target in names or target in found:
                continue
            guess = likely_column(target, found)
            if guess is not None and guess not in names.values():
                hint.append(f"--field {target}={guess}")
        return f"map them with {' '.join(hint or ['--field instruction=<column>'])}"

    check_column(rows, names.get("instruction", "instruction"), in_path, advice)


def curate_file(in_path: str | os.PathLike, recipe_path: str | os.PathLike,
                out_path: str | os.PathLike, seeds: Sequence[Any] | None = None,
                field_map: Sequence[str] | dict[str, str] | None = None,
                split: str | None = None) -> CurateReport:
    """Run the steps of `recipe_path` over `in_path`; see the module doc."""
    started = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    names = parse_field_map(field_map)
    _cfg, steps = load_curate_config(recipe_path, seeds or ())
    if not out_path.parent.is_dir():
        raise TaneError("output directory does not exist", path=str(out_path.parent))
    if out_path.is_dir():
        raise TaneError("is a directory; -o wants an output file name", path=str(out_path))
    rows = read_rows(in_path, split)
    _check_instruction_column(rows, names, in_path)
    for target, column in names.items():
        if rows and not any(column in obj for _, _, obj in rows):
            raise TaneError(f"no row has a column {column!r} (--field {target}={column})",
                            path=str(in_path), field="field")
    drops: dict[int, dict] = {}
    views: list[tuple[int, Fields]] = []
    for pos, (rowno, _line, obj) in enumerate(rows):
        f = row_fields(obj, names)
        if isinstance(f, str):
            found = obj.get(f)
            drops[pos] = {"reason": "missing_field",
                          "detail": {"field": f, "found": None if found is None
                                     else type(found).__name__}}
            continue
        if f.id is None:
            f.id = rowno
        long = too_long(f)
        if long is not None:
            drops[pos] = {"reason": "too_long", "detail": long}
            continue
        views.append((pos, f))
    results = run_batch(steps, [f for _, f in views])
    for (pos, _f), res in zip(views, results):
        if res is not None:
            drops[pos] = {"reason": res[0], "detail": res[1]}
    kept, rejected = [], []
    by_reason: dict[str, int] = {}
    for pos, (_rowno, line, obj) in enumerate(rows):
        drop = drops.get(pos)
        if drop is None:
            kept.append(line if line is not None
                        else json.dumps(obj, ensure_ascii=False, default=str))
            continue
        by_reason[drop["reason"]] = by_reason.get(drop["reason"], 0) + 1
        rejected.append(json.dumps({**obj, "_drop": drop}, ensure_ascii=False, default=str))
    rej_path = rejected_path_for(out_path)
    write_atomically([(out_path, kept), (rej_path, rejected)])
    return CurateReport(rows_in=len(rows), kept=len(kept),
                        dropped_by_reason=dict(sorted(by_reason.items())),
                        seconds=round(time.perf_counter() - started, 3),
                        out_path=str(out_path), rejected_path=str(rej_path))
