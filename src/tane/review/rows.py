"""The rows of a review file: a run's records with their latest revision, and (on
request) the rows the pipeline dropped, shown read only."""

from __future__ import annotations

from pathlib import Path

from ..provenance import Provenance
from ..store.revisions import FIELDS, drop_fields, reviewed_output, run_id
from ..store.sheets import clean
from ..verdicts import recorded_verdict
from .table import REJECTED_PREFIX, Row


def build_rows(run_dir: str | Path, include_dropped: bool = False) -> tuple[str, list[Row]]:
    """The run id and the rows to export: machine records with their latest revision."""
    d = Path(run_dir)
    records, drops, latest = reviewed_output(d)
    rid = run_id(d)
    rows = []
    for rec in records:
        prov = Provenance.of_row(rec)
        rev = latest.get(rec["id"])
        fields = {k: rec.get(k) for k in FIELDS}
        for k, v in ((rev or {}).get("fields") or {}).items():
            if k in FIELDS:
                fields[k] = v
        score, reason = recorded_verdict(prov)
        vals = {"id": rec["id"], **{k: clean(v) for k, v in fields.items()},
                "method": prov.made_by().method, "judge_score": score,
                "judge_reason": clean(reason), "drop_reason": "",
                "status": (rev or {}).get("status", ""), "note": clean((rev or {}).get("note"))}
        rows.append(Row(rec["id"], vals, raw=fields,
                        machine={k: clean(rec.get(k)) for k in FIELDS}))
    if include_dropped:
        for n, dr in enumerate(drops, 1):
            rid_ = f"{REJECTED_PREFIX}{n}"
            detail = dr.get("detail") or {}
            fields = drop_fields(dr)  # what the stage dropped, as it saw it
            vals = {"id": rid_, **{k: clean(v) for k, v in fields.items()},
                    "method": str(dr.get("stage") or ""),
                    "judge_score": "", "judge_reason": "",
                    "drop_reason": clean(dr.get("reason")
                                         + (f" ({detail.get('note')})"
                                            if dr.get("reason") == "human"
                                            and detail.get("note") else "")),
                    "status": "drop", "note": ""}
            rows.append(Row(rid_, vals, locked=True))
    return rid, rows
