"""``tane eval judge-vs-human RUN_DIR``: how far the run's LLM judge agrees with the humans
who reviewed its records, to calibrate a judge before trusting it.

Two kinds of human decision are read from a run directory, read only:

* **Ratings** of the web review (``tane review serve``; the log in ``run.sqlite``): the
  judge's score of each record against the reviewers' mean rating on the review's first
  rating question, as the review's own figures make them
  (:func:`tane.store.review_figures.run_figures`, the admin view's and the dataset card's
  code): Spearman's rho over the records both rated, Cohen's kappa with quadratic weights
  (the humans' mean rounded to the scale), and the judge's drops the reviewers saw and
  kept (most of their submissions keep or edit it).
* **Keep/drop decisions** that became revisions (``tane review import`` of the Excel/CSV
  file, and the web review's applied decisions): each record the judge scored and kept,
  and each record the judge dropped (a machine drop of a judge stage), against the latest
  revision's status (keep and edit keep it, drop drops it). Counted in a 2x2 table, with
  the share where both agree and the judge's drops the humans kept.

Records without a judge score, and drops of other stages, are not the judge's decisions
and are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TaneError
from ..provenance import Provenance
from ..store.review_figures import drop_score, judge_score, run_figures
from ..store.revisions import REJECTED_PREFIX, reviewed_output

KEPT = ("keep", "edit")


def decisions(run_dir: str | Path) -> dict[str, Any]:
    """The judge's keep/drop against the humans' latest revisions (module doc)."""
    records, drops, latest = reviewed_output(run_dir)
    judged: list[tuple[str, bool]] = []  # (record id, the judge kept it)
    for rec in records:
        if judge_score(Provenance.of_row(rec)) is not None:
            judged.append((rec["id"], True))
    for n, d in enumerate(drops, 1):
        detail = d.get("detail") if isinstance(d.get("detail"), dict) else {}
        if "judge" in str(d.get("stage") or "") and drop_score(detail) is not None:
            judged.append((f"{REJECTED_PREFIX}{n}", False))
    table = {"kept_kept": 0, "kept_dropped": 0, "dropped_kept": 0, "dropped_dropped": 0}
    drops_kept = []
    for rid, judge_kept in judged:
        status = (latest.get(rid) or {}).get("status") or ""
        if status not in KEPT + ("drop",):
            continue
        human_kept = status in KEPT
        key = f"{'kept' if judge_kept else 'dropped'}_{'kept' if human_kept else 'dropped'}"
        table[key] += 1
        if not judge_kept and human_kept:
            drops_kept.append(rid)
    n = sum(table.values())
    return {"judged": len(judged), "decided": n, **table,
            "agreement": (table["kept_kept"] + table["dropped_dropped"]) / n if n else None,
            "judge_drops_decided": table["dropped_kept"] + table["dropped_dropped"],
            "judge_drops_kept": sorted(drops_kept)}


def judge_vs_human(run_dir: str | Path) -> dict[str, Any]:
    """Both figures of a run directory; a one-line error where it has no human decision
    on anything the judge scored."""
    d = Path(run_dir)
    if not (d / "manifest.json").is_file() and not (d / "dataset.machine.jsonl").is_file() \
            and not (d / "dataset.jsonl").is_file():
        raise TaneError("not a run directory (no manifest.json or dataset.jsonl)",
                        path=str(d))
    dec = decisions(d)
    web = run_figures(d)
    ratings = (web or {}).get("judge") or None
    if not dec["judged"]:
        raise TaneError("no judge scores in this run (no record carries a judge's "
                        "verdict): nothing to compare with the humans", path=str(d))
    if not dec["decided"] and not (ratings and (ratings.get("items")
                                                or ratings.get("drops_reviewed"))):
        raise TaneError("no human review decisions on the judged records (tane review "
                        "import, or tane review serve and its ratings)", path=str(d))
    return {"run_dir": str(d), "ratings": ratings, "decisions": dec}


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render(res: dict[str, Any]) -> list[str]:
    """The figures as lines of text."""
    out = [f"judge against the humans: {res['run_dir']}"]
    r = res["ratings"]
    if r and r.get("items"):
        out.append(f"ratings (web review, question {r['question']!r}, {r['items']} records "
                   f"the judge scored and the reviewers rated): quadratic-weighted kappa "
                   f"{_f(r.get('kappa'))}, Spearman {_f(r.get('spearman'))}")
    else:
        out.append("ratings: none (the web review's rating question, tane review serve)")
    if r and r.get("drops_reviewed"):
        out.append(f"web review: the reviewers kept {r['drops_kept']} of the "
                   f"{r['drops_reviewed']} judge drops they saw")
    d = res["decisions"]
    if d["decided"]:
        out.append(f"keep/drop (review revisions: Excel/CSV import and web decisions), "
                   f"{d['decided']} of {d['judged']} judged records decided: agreement "
                   f"{_f(d['agreement'])}")
        out.append(f"  judge kept, humans kept {d['kept_kept']}, humans dropped "
                   f"{d['kept_dropped']}; judge dropped, humans kept {d['dropped_kept']}, "
                   f"humans dropped {d['dropped_dropped']}")
        if d["judge_drops_kept"]:
            out.append(f"  judge drops the humans kept: {', '.join(d['judge_drops_kept'])}")
    else:
        out.append(f"keep/drop: no review revisions on the {d['judged']} judged records")
    return out
