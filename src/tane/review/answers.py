"""The web reviewers' standing answers per record, as one text cell for an export."""

from __future__ import annotations

from pathlib import Path

from ..store.review_log import effective, read_log


def web_answers(run_dir: str | Path) -> dict[str, str]:
    """record id -> one line per reviewer ("alice: keep, quality 5 (note: ...)"), the
    adjudicator's last; empty where the run was never served (read only)."""
    log, _ = read_log(run_dir)
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
