"""Progress and agreement figures of a web review, from its log: the admin view,
``tane review agreement`` and the dataset card (``tane export``) all make them here.

``questions`` are anything with ``name``, ``ordered`` (a rating) and ``options``;
``items`` anything with ``id``, ``judge_score`` (a number or None) and ``dropped_by``
(the stage that dropped a machine drop, else "").
"""

from __future__ import annotations

import gc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from .. import agreement as ag
from ..provenance import Provenance
from ..verdicts import recorded_verdict
from .review_log import Entry, disagree, effective, read_log
from .revisions import REJECTED_PREFIX, machine_output


class Asked(Protocol):
    name: str
    options: list[str]

    @property
    def ordered(self) -> bool: ...


class Scored(Protocol):
    id: str
    judge_score: float | None

    @property
    def dropped_by(self) -> str: ...


@dataclass(frozen=True)
class Question:
    """A question as the review's settings record it."""
    name: str
    options: list[str]
    ordered: bool


@dataclass(frozen=True)
class Item:
    """What the figures need of a record: its id, judge score and dropping stage."""
    id: str
    judge_score: float | None
    dropped_by: str = ""


def judge_score(prov: Provenance) -> float | None:
    """The judge's recorded score of a machine record, as a number."""
    score, _ = recorded_verdict(prov)
    try:
        return float(score) if score != "" else None
    except ValueError:
        return None


def drop_score(detail: dict[str, Any]) -> float | None:
    """The judge's score in a machine drop's detail, as a number."""
    score = detail.get("quality", detail.get("score"))
    try:
        return float(score) if score is not None else None
    except (TypeError, ValueError):
        return None


def report(log: list[Entry], items: Sequence[Scored], queues: dict[str, list[str]],
           questions: Sequence[Asked], overlap: int, admin: str) -> dict[str, Any]:
    eff = effective(log)
    subs: dict[str, list[Entry]] = {}
    for (rid, who), e in eff.items():
        if e.kind == "submit" and who != admin:
            subs.setdefault(rid, []).append(e)
    kinds: dict[str, dict[str, str]] = {}   # reviewer -> record -> kind that stands
    for (rid, who), e in eff.items():
        kinds.setdefault(who, {})[rid] = e.kind
    progress = {}
    for name, q in queues.items():
        mine = kinds.get(name, {})
        counts = Counter(mine[rid] for rid in q if rid in mine)
        progress[name] = {"assigned": len(q), "submitted": counts["submit"],
                          "skipped": counts["skip"], "drafts": counts["draft"]}
    complete = sum(1 for s in subs.values() if len(s) >= overlap)
    raters = sorted({e.reviewer for s in subs.values() for e in s})
    out: dict[str, Any] = {
        "records": len(items), "complete": complete,
        "submissions": sum(len(s) for s in subs.values()), "progress": progress,
        "disagree": sorted(rid for rid, s in subs.items() if len(s) > 1 and disagree(s)),
        "questions": {q.name: _question(q, subs, raters) for q in questions},
        "judge": _judge(items, subs, questions)}
    return out


def _question(q: Asked, subs: dict[str, list[Entry]], raters: list[str]
              ) -> dict[str, Any]:
    name, rated = q.name, []
    for s in subs.values():  # one pass: this runs over every reviewed record
        u = [a for e in s if (a := e.answers.get(name))]
        if len(u) >= 2:
            rated.append(u)
    if q.ordered:
        rated = [[int(v) for v in u] for u in rated]
    scale = [int(v) for v in q.options] if q.ordered else None
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


def _judge(items: Sequence[Scored], subs: dict[str, list[Entry]],
           questions: Sequence[Asked]
           ) -> dict[str, Any]:
    """The judge's score against the humans' mean rating of the first rating question."""
    q = next((q for q in questions if q.ordered), None)
    if q is None:
        return {"items": 0}
    pairs = []
    by_id = {it.id: it for it in items}
    for rid, s in subs.items():
        it = by_id.get(rid)
        ratings = [int(e.answers[q.name]) for e in s if e.answers.get(q.name)]
        if it is not None and it.judge_score is not None and ratings:
            pairs.append((it.judge_score, sum(ratings) / len(ratings)))
    dropped = [by_id[rid] for rid in subs if rid in by_id and "judge" in by_id[rid].dropped_by]
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


def run_figures(run_dir: str | Path, questions: Sequence[Asked] | None = None,
                overlap: int | None = None, include_dropped: bool | None = None,
                always: bool = False) -> dict[str, Any] | None:
    """The figures of a run's web review, read only: with the questions, overlap and
    records it was last served with unless given. None where no reviewer has submitted
    anything, unless ``always``."""
    with _no_collection():  # a million small objects, none in a cycle: the cyclic
        # collector would walk them all again and again (a quarter of the time, measured)
        return _run_figures(run_dir, questions, overlap, include_dropped, always)


@contextmanager
def _no_collection() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _run_figures(run_dir: str | Path, questions: Sequence[Asked] | None,
                 overlap: int | None, include_dropped: bool | None, always: bool
                 ) -> dict[str, Any] | None:
    log, settings = read_log(run_dir)
    admin = "admin"  # the admin link's name (tane.review.web.auth.ADMIN)
    if not always and not any(e.kind == "submit" and e.reviewer != admin for e in log):
        return None
    if questions is None:
        questions = [Question(q["name"], [str(o) for o in q["options"]], bool(q["ordered"]))
                     for q in settings.get("questions") or []] or _asked(log)
    if include_dropped is None:
        include_dropped = settings.get("include_dropped", any(
            e.record_id.startswith(REJECTED_PREFIX) for e in log))
    overlap = overlap if overlap is not None else int(settings.get("overlap", 2))
    touched: dict[str, set[str]] = {}
    for e in log:
        if e.reviewer != admin:
            touched.setdefault(e.reviewer, set()).add(e.record_id)
    queues = {n: sorted(touched[n]) for n in sorted(touched)}
    return report(log, figure_items(run_dir, bool(include_dropped)), queues, questions,
                  overlap, admin) | {"overlap": overlap, "rule": settings.get("rule", "")}


def figure_items(run_dir: str | Path, include_dropped: bool) -> list[Item]:
    """The records a review shows, as much of them as the figures need (the machine's
    records, then its drops as ``rejected:N``)."""
    records, drops = machine_output(run_dir)
    items = [Item(r["id"], judge_score(Provenance.of_row(r))) for r in records]
    if include_dropped:
        for n, d in enumerate(drops, 1):
            detail = d.get("detail") if isinstance(d.get("detail"), dict) else {}
            items.append(Item(f"{REJECTED_PREFIX}{n}", drop_score(detail),
                              str(d.get("stage") or "")))
    return items


def _asked(log: list[Entry]) -> list[Question]:
    """The questions as the answers show them, where no settings were recorded: a rating
    where every answer is a whole number (its scale from the least to the most given)."""
    seen: dict[str, set[str]] = {}
    for e in log:
        for k, v in e.answers.items():
            seen.setdefault(k, set()).add(v)
    out = []
    for name, vals in seen.items():
        if name != "decision" and all(v.isdigit() for v in vals):
            lo, hi = min(map(int, vals)), max(map(int, vals))
            out.append(Question(name, [str(v) for v in range(lo, hi + 1)], True))
        else:
            out.append(Question(name, sorted(vals), False))
    return sorted(out, key=lambda q: q.name != "decision")
