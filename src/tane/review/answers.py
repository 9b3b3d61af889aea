"""The web reviewers' standing answers per record, as one text cell for an export."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def web_answers(run_dir: str | Path) -> dict[str, str]:
    """record id -> one line per reviewer ("alice: keep, quality 5 (note: ...)"), the
    adjudicator's last; empty where the run was never served (read only)."""
    path = Path(run_dir) / "run.sqlite"
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        from .web.store import _COLS, _entry, effective

        log = [_entry(r) for r in db.execute(f"SELECT {_COLS} FROM review_log ORDER BY seq")]
    except sqlite3.Error:  # no review_log: never served
        return {}
    finally:
        db.close()
    lines: dict[str, list[tuple[int, str]]] = {}
    for (rid, who), e in effective(log).items():
        if e.kind not in ("submit", "adjudicate"):
            continue
        said = ", ".join([e.answers.get("decision", "")]
                         + [f"{k} {v}" for k, v in e.answers.items() if k != "decision"])
        label = f"{who} (adjudicated)" if e.kind == "adjudicate" else who
        order = 1 if e.kind == "adjudicate" else 0
        lines.setdefault(rid, []).append(
            (order, f"{label}: {said}" + (f" (note: {e.note})" if e.note else "")))
    return {rid: "\n".join(t for _, t in sorted(v)) for rid, v in lines.items()}
