"""What the dataset card says about human review and the LLM judge, read from a run.

Human review lives in ``run.sqlite``'s ``revisions`` table (see :mod:`tane.store.revisions`),
which is read here without writing to the run directory; a web review's progress and
agreement come from its log (:mod:`tane.store.review_figures`). Judge verdicts live in each
record's judge step (:class:`tane.config.judge.JudgeStep`).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from ..config.judge import JudgeStep
from ..provenance import Provenance
from ..store.review_figures import run_figures
from ..store.revisions import latest_revisions


def read_reviews(run_dir: Path) -> list[dict[str, Any]]:
    """The latest revision of every reviewed record (empty when nothing was reviewed)."""
    db_path = run_dir / "run.sqlite"
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return list(latest_revisions(db).values())
    except sqlite3.OperationalError:  # a run directory from before review existed
        return []
    finally:
        db.close()


def review_lines(reviews: list[dict[str, Any]]) -> list[str]:
    if not reviews:
        return ["0 records reviewed (not reviewed)."]
    by_status = Counter(r["status"] for r in reviews)
    sources = Counter((r.get("source") or "?", (r.get("source_sha256") or "")[:12])
                      for r in reviews)
    lines = [f"{len(reviews)} records reviewed by a person: "
             + ", ".join(f"{s} {by_status.get(s, 0)}" for s in ("keep", "edit", "drop")) + ".",
             "", "| review file | sha256 (first 12) | records |", "|---|---|---|"]
    lines += [f"| {src} | {sha or '-'} | {n} |" for (src, sha), n in sources.items()]
    lines += ["", "Dropped rows are left out with reason `human`; edited rows keep the "
                  "machine's text in `provenance.human_review.original`."]
    return lines


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def web_review_lines(run_dir: Path) -> list[str]:
    """Progress and agreement of the run's web review (``tane review serve``); none where
    no reviewer has submitted anything."""
    figs = run_figures(run_dir)
    if figs is None:
        return []
    lines = ["", "### Web review", "",
             f"{figs['submissions']} submissions; {figs['complete']} of {figs['records']} "
             f"records complete (each to be seen by {figs['overlap']} reviewers). Final "
             "decisions become revisions, counted above.", "",
             "| reviewer | submitted | skipped | drafts |", "|---|---|---|---|"]
    lines += [f"| {name} | {p['submitted']} | {p['skipped']} | {p['drafts']} |"
              for name, p in figs["progress"].items()]
    lines += ["", "Agreement between reviewers, per question (n: records with two or more "
                  "answers):", "",
              "| question | level | n | percent agreement | Cohen's κ | Fleiss' κ "
              "| Krippendorff's α |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {a['level']} | {a['items']} | {_f(a['percent'])} | "
              f"{_f(a.get('cohen'))} | {_f(a['fleiss'])} | {_f(a['alpha'])} |"
              for name, a in figs["questions"].items()]
    lines += ["", "Cohen's κ is given for two reviewers (quadratic-weighted for ratings); "
                  "Krippendorff's α allows missing answers; - where a figure cannot be "
                  "computed (too few answers, or one value throughout)."]
    j = figs["judge"]
    if j.get("question"):
        lines += ["", f"LLM judge against the humans' mean `{j['question']}` rating on "
                      f"{j['items']} records: weighted κ {_f(j.get('kappa'))}, Spearman "
                      f"{_f(j.get('spearman'))}. The judge's drops reviewed: "
                      f"{j['drops_reviewed']}, kept by the reviewers: {j['drops_kept']}."]
    return lines


def judge_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Counts of the judge's verdicts over the exported records, or None without a judge."""
    verdicts = [v for v in (Provenance.of_row(r).step(JudgeStep) for r in records)
                if v is not None]
    if not verdicts:
        return None
    scored = [v for v in verdicts if v.scored]
    quality = Counter(v.quality for v in scored)
    return {
        "judged": len(verdicts),
        "scored": len(scored),
        "not_scored": Counter(v.status or "?" for v in verdicts if not v.scored),
        "quality": {q: quality.get(q, 0) for q in range(1, 6)},
        "mean": round(sum(v.quality or 0 for v in scored) / len(scored), 2) if scored else None,
        "difficulty": Counter(v.difficulty for v in scored if v.difficulty),
        "category": Counter(v.category for v in scored if v.category),
        "models": sorted({v.model for v in verdicts} - {""}),
    }


def judge_lines(summary: dict[str, Any] | None, thresholds: list[dict[str, Any]]) -> list[str]:
    if summary is None:
        return []
    lines = ["## Judge scores", "",
             f"{summary['judged']} exported records were graded by "
             f"{', '.join(summary['models']) or 'an LLM judge'}; {summary['scored']} have a "
             f"quality score (mean {summary['mean']})."]
    if summary["not_scored"]:
        lines.append("Without a score (the verdict could not be read, never guessed): "
                     + ", ".join(f"{s} {n}" for s, n in summary["not_scored"].items()) + ".")
    lines += ["", "| quality | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|",
              "| records | " + " | ".join(str(summary["quality"][q]) for q in range(1, 6))
              + " |"]
    for key in ("difficulty", "category"):
        if summary[key]:
            lines += ["", f"{key.capitalize()}: " + ", ".join(
                f"{k} {n}" for k, n in summary[key].most_common()) + "."]
    for t in thresholds:
        kept = {k: v for k, v in t.items() if k in ("min_quality", "max_difficulty",
                                                     "categories") and v is not None}
        if kept:
            lines += ["", "Selection: " + ", ".join(f"{k}={v}" for k, v in kept.items())
                      + " (rows outside were dropped, see Filtering)."]
    lines += ["", "The judge's prompt and raw output are in each record's judge step "
                  "(`provenance.steps`, `method: judge`)."]
    return lines + [""]
