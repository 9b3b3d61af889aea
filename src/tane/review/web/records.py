"""The records a review shows: the machine's text, the text now (latest revision
applied) and the context around it (method, model, seeds, judge, near duplicate)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.base import NoveltyOrigin
from ...config.grid import GridOrigin
from ...config.magpie import MagpieOrigin
from ...config.seeds import SourceOrigin
from ...provenance import Provenance
from ...store.review_figures import drop_score, judge_score
from ...store.revisions import FIELDS, REJECTED_PREFIX, reviewed_output
from ...verdicts import recorded_verdict


@dataclass
class Item:
    id: str
    machine: dict[str, str]          # the pipeline's text
    current: dict[str, str]          # with the latest revision
    status: str                      # latest revision's status, "" if none
    context: dict[str, Any] = field(default_factory=dict)
    judge_score: float | None = None

    @property
    def dropped_by(self) -> str:
        return self.context.get("dropped_by", "")


def _text(v: Any) -> str:
    return "" if v is None else str(v).replace("\r\n", "\n")


def _context(rec: dict[str, Any]) -> dict[str, Any]:
    prov = Provenance.of_row(rec)
    score, reason = recorded_verdict(prov)
    similar = prov.origin(NoveltyOrigin).most_similar  # the novelty check's
    source = prov.origin(SourceOrigin)
    made = prov.made_by()
    return {"method": made.method,
            "stage": ", ".join(s.stage or s.method for s in prov.all_steps()),
            "model": made.model,
            "seeds": ", ".join(prov.seed_ids),
            "source_row": (f"{source.source} row {source.row}" if source.source
                           else str(prov.parent() or "")),
            "judge_score": score, "judge_reason": reason,
            "nearest": similar[0] if similar else {},
            "turns": prov.origin(MagpieOrigin).messages,  # magpie: the whole conversation
            "drop_reason": "", "cell": str(prov.origin(GridOrigin).cell or "")}


def load_items(run_dir: str | Path, include_dropped: bool = False) -> list[Item]:
    """The machine records with their latest revision, then (``include_dropped``) the
    machine drops as ``rejected:N`` (N: the drop's line in rejected.machine.jsonl)."""
    records, drops, latest = reviewed_output(run_dir)
    items = []
    for rec in records:
        machine = {k: _text(rec.get(k)) for k in FIELDS}
        rev = latest.get(rec["id"])
        current = dict(machine)
        for k, v in ((rev or {}).get("fields") or {}).items():
            if k in FIELDS:
                current[k] = _text(v)
        items.append(Item(rec["id"], machine, current, (rev or {}).get("status") or "",
                          _context(rec), judge_score(Provenance.of_row(rec))))
    if include_dropped:
        items += [_dropped(n, d, latest) for n, d in enumerate(drops, 1)]
    return items


def _dropped(n: int, d: dict[str, Any], latest: dict[str, dict[str, Any]]) -> Item:
    detail = d.get("detail") if isinstance(d.get("detail"), dict) else {}
    seen = detail.get("record") if isinstance(detail.get("record"), dict) else {}
    machine = {"instruction": _text(d.get("text")), "input": _text(seen.get("input")),
               "output": _text(seen.get("output"))}
    rid = f"{REJECTED_PREFIX}{n}"
    rev = latest.get(rid)
    current = dict(machine)
    for k, v in ((rev or {}).get("fields") or {}).items():
        if k in FIELDS and v is not None:
            current[k] = _text(v)
    shown = {k: v for k, v in detail.items() if k != "record"}
    score = detail.get("quality", detail.get("score"))
    ctx = _context({"provenance": Provenance(method=str(d.get("stage") or ""))})
    ctx["drop_reason"] = f"{d.get('reason') or ''} {json.dumps(shown, ensure_ascii=False)}"
    ctx["judge_score"] = "" if score is None else str(score)
    ctx["judge_reason"] = str(detail.get("reason") or "")
    ctx["dropped_by"] = str(d.get("stage") or "")
    return Item(rid, machine, current, (rev or {}).get("status") or "", ctx,
                drop_score(detail))
