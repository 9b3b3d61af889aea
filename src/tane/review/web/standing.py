"""The review log as it stands, kept in memory by the server.

Each request used to read and decode the whole log (every reviewer's every entry) to
learn what stands; with thousands of submissions that was most of a request's time.
:class:`Standing` reads only the entries added since it last looked (``seq`` greater
than the last one it saw: a range of the primary key), so it stays right when another
process writes to the log, and keeps per record and reviewer the entries an undo has not
taken back (the last of them stands, as :func:`tane.store.review_log.effective` says).
"""

from __future__ import annotations

import sqlite3

from ...store.review_log import Entry, entries


class Standing:
    def __init__(self) -> None:
        self.seq = 0
        self.log: list[Entry] = []
        self._kept: dict[tuple[str, str], list[Entry]] = {}
        self.by_reviewer: dict[str, dict[str, Entry]] = {}   # reviewer -> record -> entry
        self.by_record: dict[str, dict[str, Entry]] = {}     # record -> reviewer -> entry
        self.submitted: dict[str, list[Entry]] = {}          # record -> its submissions
        self.reopened: set[str] = set()  # reviewers with a record no longer submitted/skipped

    def update(self, db: sqlite3.Connection) -> None:
        """Take in the entries written since the last update (the caller holds the
        review's lock)."""
        for e in entries(db, after_seq=self.seq):
            self._add(e)

    def _add(self, e: Entry) -> None:
        self.log.append(e)
        self.seq = e.seq
        key = (e.record_id, e.reviewer)
        kept = self._kept.setdefault(key, [])
        if e.kind == "undo":
            kept[:] = [x for x in kept if x.seq != e.undoes]
        else:
            kept.append(e)
        if not kept or kept[-1].kind == "draft":
            self.reopened.add(e.reviewer)
        if kept:
            self.by_reviewer.setdefault(e.reviewer, {})[e.record_id] = kept[-1]
            self.by_record.setdefault(e.record_id, {})[e.reviewer] = kept[-1]
        else:
            self.by_reviewer.get(e.reviewer, {}).pop(e.record_id, None)
            self.by_record.get(e.record_id, {}).pop(e.reviewer, None)
        subs = [x for x in self.by_record.get(e.record_id, {}).values() if x.kind == "submit"]
        if subs:
            self.submitted[e.record_id] = subs
        else:
            self.submitted.pop(e.record_id, None)
