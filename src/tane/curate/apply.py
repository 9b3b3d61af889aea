"""`tane curate IN --recipe CURATE.yaml -o OUT.jsonl`: the curate steps over a file.

CURATE.yaml holds ``lang:`` and ``steps:`` (the ``curate`` stage of a recipe without
``method``). Input: JSONL (tane records or any rows with ``instruction`` and optional
``input`` / ``output`` / ``provenance``) or Parquet (needs pyarrow). Kept rows are
written unchanged to OUT.jsonl (JSONL lines byte for byte, minus a BOM); dropped rows go
to OUT.rejected.jsonl with ``_drop: {reason, detail}``. Rows without a string
``instruction`` are dropped as ``missing_field``. Both files are written to temporary
files and moved into place only when everything succeeded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field, ValidationError

from tane.curate.dedup import _read_jsonl, _write_atomically, rejected_path_for
from tane.curate.heuristics import Fields
from tane.curate.stage import build_steps, run_steps
from tane.errors import TaneError
from tane.recipe import CurateStep, Strict, _line_of, read_yaml_mapping


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


def _loc(field_path: str) -> tuple[Any, ...]:
    return tuple(int(x) if x.isdigit() else x for x in field_path.split("."))


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
        raise TaneError(msg, path=str(p), line=_line_of(root, loc),
                        field=".".join(str(x) for x in loc) or None) from None
    try:
        steps = build_steps(cfg.lang, cfg.steps, seeds)
    except TaneError as e:
        raise TaneError(e.message, path=str(p),
                        line=_line_of(root, _loc(e.field)) if e.field else None,
                        field=e.field) from None
    return cfg, steps


def _read_parquet(path: Path) -> list[tuple[int, str | None, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TaneError("reading Parquet needs pyarrow (pip install pyarrow), or convert "
                        "the file to JSONL", path=str(path)) from None
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a bad file
        raise TaneError(f"cannot read Parquet: {e}", path=str(path)) from None
    return [(i, None, r) for i, r in enumerate(rows, start=1)]


def _fields(obj: dict) -> Fields | str:
    inst = obj.get("instruction")
    if not isinstance(inst, str):
        return "instruction"
    inp = obj.get("input") or ""
    out = obj.get("output")
    if not isinstance(inp, str):
        return "input"
    if out is not None and not isinstance(out, str):
        return "output"
    prov = obj.get("provenance")
    rid = obj.get("id")
    return Fields(instruction=inst, input=inp, output=out,
                  provenance=prov if isinstance(prov, dict) else {},
                  id=rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None)


def curate_file(in_path: str | os.PathLike, recipe_path: str | os.PathLike,
                out_path: str | os.PathLike, seeds: Sequence[Any] | None = None
                ) -> CurateReport:
    """Run the steps of `recipe_path` over `in_path`; see the module doc."""
    started = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    _cfg, steps = load_curate_config(recipe_path, seeds or ())
    if not out_path.parent.is_dir():
        raise TaneError("output directory does not exist", path=str(out_path.parent))
    if in_path.suffix.lower() == ".parquet":
        rows = _read_parquet(in_path)
    else:
        rows = _read_jsonl(in_path)
    kept, rejected = [], []
    by_reason: dict[str, int] = {}
    for lineno, line, obj in rows:
        f = _fields(obj)
        if isinstance(f, str):
            found = obj.get(f)
            drop = {"reason": "missing_field",
                    "detail": {"field": f, "found": None if found is None
                               else type(found).__name__}}
        else:
            if f.id is None:
                f.id = lineno
            res = run_steps(steps, f)
            drop = None if res is None else {"reason": res[0], "detail": res[1]}
        if drop is None:
            kept.append(line if line is not None
                        else json.dumps(obj, ensure_ascii=False, default=str))
            continue
        by_reason[drop["reason"]] = by_reason.get(drop["reason"], 0) + 1
        rejected.append(json.dumps({**obj, "_drop": drop}, ensure_ascii=False, default=str))
    rej_path = rejected_path_for(out_path)
    _write_atomically([(out_path, kept), (rej_path, rejected)])
    return CurateReport(rows_in=len(rows), kept=len(kept),
                        dropped_by_reason=dict(sorted(by_reason.items())),
                        seconds=round(time.perf_counter() - started, 3),
                        out_path=str(out_path), rejected_path=str(rej_path))
