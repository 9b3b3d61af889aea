"""Progress and agreement figures of a review (admin view, ``tane review agreement``)."""

from __future__ import annotations

from statistics import mean
from typing import Any

from . import agreement as ag
from .decide import disagree
from .questions import Question
from .records import Item
from .store import Entry, effective


def report(log: list[Entry], items: list[Item], queues: dict[str, list[str]],
           questions: list[Question], overlap: int, admin: str) -> dict[str, Any]:
    eff = effective(log)
    subs: dict[str, list[Entry]] = {}
    for (rid, who), e in eff.items():
        if e.kind == "submit" and who != admin:
            subs.setdefault(rid, []).append(e)
    progress = {}
    for name, q in queues.items():
        mine = [eff.get((rid, name)) for rid in q]
        progress[name] = {"assigned": len(q),
                          "submitted": sum(1 for e in mine if e and e.kind == "submit"),
                          "skipped": sum(1 for e in mine if e and e.kind == "skip"),
                          "drafts": sum(1 for e in mine if e and e.kind == "draft")}
    complete = sum(1 for s in subs.values() if len(s) >= overlap)
    raters = sorted({e.reviewer for s in subs.values() for e in s})
    out: dict[str, Any] = {
        "records": len(items), "complete": complete,
        "submissions": sum(len(s) for s in subs.values()), "progress": progress,
        "disagree": sorted(rid for rid, s in subs.items() if len(s) > 1 and disagree(s)),
        "questions": {q.name: _question(q, subs, raters) for q in questions},
        "judge": _judge(items, subs, questions)}
    return out


def _question(q: Question, subs: dict[str, list[Entry]], raters: list[str]
              ) -> dict[str, Any]:
    units = [[e.answers[q.name] for e in s if e.answers.get(q.name)] for s in subs.values()]
    units = [[int(v) for v in u] if q.ordered else u for u in units]
    scale = [int(v) for v in q.options] if q.ordered else None
    rated = [u for u in units if len(u) >= 2]
    res: dict[str, Any] = {"items": len(rated), "level": "ordinal" if q.ordered else "nominal",
                           "percent": ag.percent_agreement(rated)}
    if len(raters) == 2:
        a, b = [], []
        for s in subs.values():
            by = {e.reviewer: e.answers.get(q.name) for e in s}
            if by.get(raters[0]) and by.get(raters[1]):
                a.append(by[raters[0]])
                b.append(by[raters[1]])
        if q.ordered:
            a, b = [int(x) for x in a], [int(x) for x in b]
        res["cohen"] = ag.cohen_kappa(a, b, scale, "quadratic" if q.ordered else None)
        res["cohen_weights"] = "quadratic" if q.ordered else "none"
    res["fleiss"] = ag.fleiss_kappa(rated)
    res["alpha"] = ag.krippendorff_alpha(rated, "ordinal" if q.ordered else "nominal", scale)
    return res


def _judge(items: list[Item], subs: dict[str, list[Entry]], questions: list[Question]
           ) -> dict[str, Any]:
    """The judge's score against the humans' mean rating of the first rating question."""
    q = next((q for q in questions if q.ordered), None)
    if q is None:
        return {"items": 0}
    pairs = []
    for it in items:
        ratings = [int(e.answers[q.name]) for e in subs.get(it.id, [])
                   if e.answers.get(q.name)]
        if it.judge_score is not None and ratings:
            pairs.append((it.judge_score, mean(ratings)))
    dropped = [it for it in items if "judge" in it.context.get("dropped_by", "")
               and len(subs.get(it.id, [])) > 0]
    kept = [it for it in dropped
            if 2 * sum(e.answers.get("decision") in ("keep", "edit") for e in subs[it.id])
            > len(subs[it.id])]
    res: dict[str, Any] = {"question": q.name, "items": len(pairs),
                           "drops_reviewed": len(dropped), "drops_kept": len(kept),
                           "spearman": ag.spearman([p[0] for p in pairs],
                                                   [p[1] for p in pairs])}
    scale = [int(v) for v in q.options]
    if pairs and all(p[0] in scale for p in pairs):
        res["kappa"] = ag.cohen_kappa([int(p[0]) for p in pairs],
                                      [int(p[1] + 0.5) for p in pairs], scale, "quadratic")
    return res
