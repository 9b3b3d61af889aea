"""From submissions to final decisions, and from final decisions to revisions.

An adjudicator's decision is final. Without one, a complete record (``overlap``
submissions) is decided by the rule: ``unanimous`` (all submissions agree) or
``majority`` (more than half agree); anything else waits in the adjudication queue.
Submissions agree when their decision is the same and, for edits, their text too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ...store.review_log import Entry, decision_key, disagree  # noqa: F401

RULES = ("majority", "unanimous")


@dataclass
class Final:
    record_id: str
    status: str                      # keep | drop | edit
    fields: dict[str, str]
    reviewers: list[str]
    adjudicator: str = ""
    note: str = ""

    @property
    def source(self) -> str:
        return ("web review: " + ", ".join(self.reviewers)
                + (f"; adjudicated by {self.adjudicator}" if self.adjudicator else ""))


def final(record_id: str, subs: list[Entry], adjudication: Entry | None, needed: int,
          rule: str) -> Final | None:
    """The record's final decision, or None while it has none."""
    names = sorted({e.reviewer for e in subs})
    if adjudication is not None:
        return Final(record_id, adjudication.answers["decision"], adjudication.after, names,
                     adjudication.reviewer, adjudication.note)
    if len(subs) < needed or not subs:
        return None
    top, n = Counter(decision_key(e) for e in subs).most_common(1)[0]
    if (rule == "unanimous" and n < len(subs)) or (rule == "majority" and 2 * n <= len(subs)):
        return None
    chosen = next(e for e in subs if decision_key(e) == top)
    notes = "; ".join(f"{e.reviewer}: {e.note}" for e in subs if e.note)
    return Final(record_id, top[0], chosen.after, names, "", notes)
