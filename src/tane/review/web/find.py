"""Filters and full-text search over a review's records.

Search is a plain substring match on the instruction, input and output as they stand
(case-folded): a one- or two-character Japanese query finds what it should, which
SQLite FTS5's trigram tokenizer (three characters at least) would not."""

from __future__ import annotations

from dataclasses import dataclass

from .decide import disagree as differs
from .records import Item
from .store import Entry

STATES = ("", "unreviewed", "incomplete", "complete")


@dataclass
class Query:
    text: str = ""
    method: str = ""
    cell: str = ""
    reason: str = ""
    reviewer: str = ""
    state: str = ""
    disagree: bool = False
    score_min: float | None = None
    score_max: float | None = None


def haystack(it: Item) -> str:
    """What a search looks in: the record's text as it stands, case-folded."""
    return "\n".join(it.current.values()).casefold()


def find(items: list[Item], subs: dict[str, list[Entry]], needed: int, q: Query,
         hay: dict[str, str] | None = None) -> list[Item]:
    """The items ``q`` selects (``hay``: :func:`haystack` of each item, made once)."""
    text = q.text.casefold()
    out = []
    for it in items:
        s = subs.get(it.id, [])
        if text and text not in (hay[it.id] if hay is not None else haystack(it)):
            continue
        if q.method and q.method not in (it.context["method"], it.context.get("dropped_by")):
            continue
        if q.cell and q.cell != it.context.get("cell", ""):
            continue
        if q.reason and not it.context["drop_reason"].startswith(q.reason):
            continue
        if q.reviewer and all(e.reviewer != q.reviewer for e in s):
            continue
        if q.state and q.state != ("unreviewed" if not s else
                                   "complete" if len(s) >= needed else "incomplete"):
            continue
        if q.disagree and not (len(s) > 1 and differs(s)):
            continue
        if q.score_min is not None and (it.judge_score is None or it.judge_score < q.score_min):
            continue
        if q.score_max is not None and (it.judge_score is None or it.judge_score > q.score_max):
            continue
        out.append(it)
    return out
