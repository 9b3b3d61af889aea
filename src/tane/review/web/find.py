"""Filters and full-text search over a review's records.

Search is a substring match on the instruction, input and output as they stand
(case-folded): a one- or two-character Japanese query finds what it should, which
SQLite FTS5's trigram tokenizer (three characters at least) would not. :class:`TextIndex`
keeps every record's text in one string, so a query is a few ``str.find`` calls in C
(one per matching record) instead of a Python loop over every record."""

from __future__ import annotations

from bisect import bisect_right
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


class TextIndex:
    """The items' :func:`haystack` joined by a separator no query holds."""

    SEP = "\x00"
    RECENT = 32

    def __init__(self, items: list[Item]) -> None:
        self.starts: list[int] = []
        parts, pos = [], 0
        for it in items:
            h = haystack(it).replace(self.SEP, " ")
            self.starts.append(pos)
            parts.append(h)
            pos += len(h) + 1
        self.text = self.SEP.join(parts)
        self._recent: dict[str, list[int]] = {}

    def matching(self, query: str) -> list[int]:
        """Positions (in the items' order) of the items whose text holds ``query``; the
        last few queries' answers are kept (the text does not change: a reload makes a
        new index)."""
        q = query.casefold()
        if not q or self.SEP in q:
            return [] if q else list(range(len(self.starts)))
        if q not in self._recent:
            if len(self._recent) >= self.RECENT:
                del self._recent[next(iter(self._recent))]
            self._recent[q] = self._find(q)
        return self._recent[q]

    def _find(self, q: str) -> list[int]:
        out, find, starts, pos = [], self.text.find, self.starts, 0
        while True:
            pos = find(q, pos)
            if pos < 0:
                return out
            i = bisect_right(starts, pos) - 1
            out.append(i)
            if i + 1 >= len(starts):
                return out
            pos = starts[i + 1]   # the next item: one hit an item is enough


def find(items: list[Item], subs: dict[str, list[Entry]], needed: int, q: Query,
         index: TextIndex | None = None) -> list[Item]:
    """The items ``q`` selects (``index``: a :class:`TextIndex` of ``items``, made once)."""
    text = q.text.casefold()
    if text:
        index = index or TextIndex(items)
        items = [items[i] for i in index.matching(text)]
    if q == Query(text=q.text):  # no other filter
        return list(items)
    out = []
    for it in items:
        s = subs.get(it.id, [])
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
