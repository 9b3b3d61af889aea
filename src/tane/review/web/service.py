"""One review over one run directory: queues, submissions, undo, final decisions and
the figures, independent of HTTP (the views call these)."""

from __future__ import annotations

import fcntl
import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import TaneError
from ...store.lock import LOCK_NAME, RunLock
from ...store.revision_commit import commit_revisions, settle
from ...store.rundir import RunDir
from ...store import review_figures
from . import decide, store
from .find import Query, TextIndex, find
from .assignment import assign
from .auth import ADMIN
from .questions import Question
from .records import Item, load_items
from .standing import Standing


class Refused(Exception):
    """A submission that cannot be stored (HTTP status, message)."""

    def __init__(self, status: int, message: str, newer: store.Entry | None = None):
        super().__init__(message)
        self.status, self.message, self.newer = status, message, newer


@dataclass
class Applied:
    added: int
    conflicts: list[str]            # records an import changed since they were reviewed


class Review:
    def __init__(self, run_dir: str | Path, reviewers: list[str], overlap: int,
                 questions: list[Question], rule: str = "majority", guidelines: str = "",
                 include_dropped: bool = False):
        self.dir = Path(run_dir)
        self.reviewers = reviewers
        self.overlap = max(1, min(overlap, len(reviewers)))
        self.questions = questions
        self.rule = rule
        self.guidelines = guidelines
        self.include_dropped = include_dropped
        self._lock = threading.RLock()      # writes, on self.db
        self._rlock = threading.RLock()     # reads, on self.rdb, and the standing log
        self.db = store.open_db(self.dir)
        self.rdb = store.open_db(self.dir)  # WAL: reads go on while a write commits
        store.set_settings(self.db, {
            "questions": [{"name": q.name, "options": q.options, "ordered": q.ordered}
                          for q in questions],
            "overlap": self.overlap, "rule": rule, "include_dropped": include_dropped})
        self.standing = Standing()
        self.reload()
        self.queues = assign([it.id for it in self.items], reviewers, self.overlap)
        self.position = {name: {rid: i for i, rid in enumerate(q)}
                         for name, q in self.queues.items()}
        self._done_before: dict[str, int] = {}
        self.current()  # read the log now, not in the first request

    def reload(self) -> None:
        self.items = load_items(self.dir, self.include_dropped)
        self.by_id: dict[str, Item] = {it.id: it for it in self.items}
        self.index = TextIndex(self.items)

    # -- state ---------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether another process (a ``tane run``) holds the run directory."""
        try:
            fd = os.open(self.dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def current(self) -> Standing:
        """The log as it stands, with the entries written since the last look (callers
        hold ``_rlock`` while they read it)."""
        with self._rlock:
            self.standing.update(self.rdb)
            return self.standing

    def mine(self, reviewer: str) -> dict[str, store.Entry]:
        """record -> the reviewer's standing entry."""
        with self._rlock:
            return dict(self.current().by_reviewer.get(reviewer, {}))

    def next_id(self, reviewer: str, after: str | None = None) -> str | None:
        """The next record in the reviewer's queue (after ``after``) not yet submitted or
        skipped; then skipped ones."""
        q = self.queues.get(reviewer, [])
        with self._rlock:
            st = self.current()
            mine = st.by_reviewer.get(reviewer, {})
            if reviewer in st.reopened:
                st.reopened.discard(reviewer)
                self._done_before[reviewer] = 0
            # every record before _done_before[reviewer] is submitted or skipped
            done = self._done_before.get(reviewer, 0)
            asked = self.position[reviewer].get(after, -1) + 1 if after else 0
            start = max(asked, done)
            for rid in itertools.chain(q[start:], q[done:start]):
                if rid not in mine or mine[rid].kind == "draft":
                    if start == done or self.position[reviewer][rid] < start:
                        self._done_before[reviewer] = self.position[reviewer][rid]
                    return rid
            self._done_before[reviewer] = len(q)
            order = q[asked:] + q[:asked]
            return next((rid for rid in order if mine[rid].kind == "skip"), None)

    def prev_id(self, reviewer: str, rid: str) -> str | None:
        i = self.position.get(reviewer, {}).get(rid)
        return self.queues[reviewer][i - 1] if i else None

    def submissions(self, record_id: str) -> tuple[list[store.Entry], store.Entry | None]:
        """The record's standing submissions (one a reviewer) and adjudication."""
        with self._rlock:
            standing = list(self.current().by_record.get(record_id, {}).values())
        subs = [e for e in standing if e.kind == "submit"]
        adj = [e for e in standing if e.kind == "adjudicate"]
        return subs, (max(adj, key=lambda e: e.seq) if adj else None)

    def version(self, record_id: str) -> int:
        with self._rlock:
            return store.last_seq(self.rdb, record_id)

    def reviewer(self, token_digest: str) -> tuple[str, str] | None:
        """(name, role) of a token's reviewer."""
        with self._rlock:
            return store.reviewer_by_hash(self.rdb, token_digest)

    # -- writing -------------------------------------------------------------------------
    def save(self, reviewer: str, record_id: str, kind: str, after: dict[str, str],
             answers: dict[str, str], note: str, version: int) -> int:
        """Store a draft, submission, skip or adjudication (one short transaction).
        Refused: an edit over another's newer edit (409), a busy directory (423)."""
        item = self.by_id[record_id]
        if self.busy():
            raise Refused(423, "read-only: tane run is working in this run directory; "
                               "nothing was saved")
        if kind in ("submit", "adjudicate"):
            d = answers.get("decision")
            if d not in ("keep", "drop", "edit"):
                raise Refused(400, "choose keep, drop or edit before submitting")
            if d == "keep" and after != item.current:
                answers = answers | {"decision": "edit"}
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if kind in ("submit", "adjudicate") and after != item.current:
                newer = [e for e in store.entries(self.db, record_id=record_id,
                                                  after_seq=version)
                         if e.kind in ("submit", "adjudicate") and e.after != item.current
                         and e.after != after]
                if newer:
                    e = newer[-1]
                    raise Refused(409, f"{e.reviewer} submitted another edit of this record "
                                       "after you opened it; yours was not saved. Their "
                                       "text is shown below: merge and submit again", e)
            return store.append(self.db, record_id, reviewer, kind, dict(item.current),
                                after, answers, note)

    def undo(self, reviewer: str) -> str | None:
        """Take back the reviewer's last standing submission or skip; its record id."""
        if self.busy():
            raise Refused(423, "read-only: tane run is working in this run directory")
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            log = store.entries(self.db, reviewer=reviewer)
            undone = {e.undoes for e in log if e.kind == "undo"}
            last = next((e for e in reversed(log) if e.kind in ("submit", "skip")
                         and e.seq not in undone), None)
            if last is None:
                return None
            store.append(self.db, last.record_id, reviewer, "undo", last.after, last.before,
                         {}, "", undoes=last.seq)
            return last.record_id

    def finals(self) -> dict[str, decide.Final]:
        by: dict[str, list[store.Entry]] = {}
        adj: dict[str, store.Entry] = {}
        with self._rlock:
            standing = [(rid, e) for rid, es in self.current().by_record.items()
                        for e in es.values()]
        for rid, e in standing:
            if e.kind == "submit":
                by.setdefault(rid, []).append(e)
            elif e.kind == "adjudicate" and (rid not in adj or e.seq > adj[rid].seq):
                adj[rid] = e
        out = {}
        for rid in set(by) | set(adj):
            f = decide.final(rid, by.get(rid, []), adj.get(rid), self.overlap, self.rule)
            if f is not None and rid in self.by_id:
                out[rid] = f
        return out

    def apply(self) -> Applied:
        """Final decisions not yet revisions become revisions, and dataset.jsonl /
        rejected.jsonl are rebuilt, as ``tane review import`` does (run lock held)."""
        finals = self.finals()
        lock = RunLock(self.dir)
        try:
            lock.acquire()
        except TaneError as e:
            raise Refused(423, f"read-only: {e}") from None
        try:
            settle(self.dir)
            rd = RunDir(self.dir)
            try:
                latest = rd.latest_revisions()
            finally:
                rd.close()
            first = self._first_submitted()
            items, conflicts = [], []
            for rid, f in sorted(finals.items()):
                rev = latest.get(rid)
                if rev and rev["status"] == f.status and rev["fields"] == f.fields:
                    continue
                if rev and not (rev.get("source") or "").startswith("web review") \
                        and rev["created"] > first.get(rid, 0):
                    conflicts.append(f"{rid}: changed by {rev.get('source') or 'an import'}"
                                     " after it was reviewed here; not applied")
                    continue
                items.append({"record_id": rid, "status": f.status, "fields": f.fields,
                              "note": f.note, "source": f.source})
            if items:
                commit_revisions(self.dir, items)
                self.reload()
            return Applied(len(items), conflicts)
        finally:
            lock.release()

    def _first_submitted(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with self._rlock:
            log = list(self.current().log)
        for e in log:
            if e.kind in ("submit", "adjudicate"):
                out.setdefault(e.record_id, e.created)
        return out

    def search(self, q: Query) -> list[Item]:
        with self._rlock:
            subs = self.current().submitted
            return find(self.items, subs, self.overlap, q, self.index)

    # -- figures -------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        with self._rlock:
            log = list(self.current().log)
        return review_figures.report(log, self.items, self.queues, self.questions,
                              self.overlap, ADMIN)
