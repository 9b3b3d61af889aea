"""The records a review shows: the machine's text, the text now (latest revision
applied) and the context around it (method, model, seeds, judge, near duplicate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _judge
from ...store.revisions import FIELDS, machine_output
from ...store.rundir import RunDir


@dataclass
class Item:
    id: str
    machine: dict[str, str]          # the pipeline's text
    current: dict[str, str]          # with the latest revision
    status: str                      # latest revision's status, "" if none
    context: dict[str, Any] = field(default_factory=dict)
    judge_score: float | None = None


def _text(v: Any) -> str:
    return "" if v is None else str(v).replace("\r\n", "\n")


def _context(rec: dict[str, Any]) -> dict[str, Any]:
    prov = rec.get("provenance") or {}
    score, reason = _judge(prov)
    steps = [s for s in prov.get("steps") or [] if isinstance(s, dict)]
    near = prov.get("nearest") or prov.get("rouge") or {}
    turns = rec.get("messages") or prov.get("turns") or []
    return {"method": str(prov.get("method") or ""),
            "stage": ", ".join(str(s.get("stage") or s.get("method") or "") for s in steps),
            "model": str(prov.get("model") or ""),
            "seeds": ", ".join(str(s) for s in prov.get("seed_ids") or []),
            "source_row": str(prov.get("source_row") or prov.get("parent_id") or ""),
            "judge_score": score, "judge_reason": reason,
            "nearest": near if isinstance(near, dict) else {},
            "turns": turns if isinstance(turns, list) else [],
            "drop_reason": ""}


def load_items(run_dir: str | Path) -> list[Item]:
    records, _ = machine_output(run_dir)
    rd = RunDir(run_dir)
    try:
        latest = rd.latest_revisions()
    finally:
        rd.close()
    items = []
    for rec in records:
        machine = {k: _text(rec.get(k)) for k in FIELDS}
        rev = latest.get(rec["id"])
        current = dict(machine)
        for k, v in ((rev or {}).get("fields") or {}).items():
            if k in FIELDS:
                current[k] = _text(v)
        ctx = _context(rec)
        try:
            score = float(ctx["judge_score"]) if ctx["judge_score"] != "" else None
        except ValueError:
            score = None
        items.append(Item(rec["id"], machine, current, (rev or {}).get("status") or "",
                          ctx, score))
    return items
