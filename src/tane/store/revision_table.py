"""The ``revisions`` table of ``run.sqlite``: human review decisions, one row per
(record, revision), never cleared by a rerun. Plain functions on an open connection; how
revisions shape a run's outputs is :mod:`tane.store.revisions`."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterable

from ..schema import dumps

STATUSES = ("keep", "drop", "edit")
FIELDS = ("instruction", "input", "output")


# -- the table ------------------------------------------------------------------------
def _row(r: tuple) -> dict[str, Any]:
    rid, rev, status, fields, note, source, sha, created, export_id = r
    return {"record_id": rid, "revision": rev, "status": status,
            "fields": json.loads(fields or "{}"), "note": note or "", "source": source or "",
            "source_sha256": sha or "", "created": created, "export_id": export_id or ""}


_COLS = ("record_id, revision, status, fields, note, source, source_sha256, created, "
         "export_id")


# one row while the files the revisions shape are due (see tane.store.revision_commit)
OUTPUTS_DUE = """
CREATE TABLE IF NOT EXISTS outputs_due (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL           -- the last revision the files must show
)"""


def migrate(db: sqlite3.Connection) -> None:
    """Run directories made before review files carried their export id, or before the
    outputs-due mark."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(revisions)")}
    if "export_id" not in cols:
        db.execute("ALTER TABLE revisions ADD COLUMN export_id TEXT NOT NULL DEFAULT ''")
    db.execute(OUTPUTS_DUE)


def last_seq(db: sqlite3.Connection) -> int:
    """The review state a review file is exported from: the last revision's number in
    the table (0 before any review)."""
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM revisions").fetchone()[0]


def changed_since(db: sqlite3.Connection, seq: int) -> dict[str, dict[str, Any]]:
    """record_id -> its latest revision among those added after ``seq``, whatever file
    they came from (what a review file exported at ``seq`` would undo)."""
    cur = db.execute(f"SELECT {_COLS} FROM revisions WHERE seq > ? ORDER BY seq", (seq,))
    return {r[0]: _row(r) for r in cur}


def revisions_at(db: sqlite3.Connection, seq: int) -> dict[str, dict[str, Any]]:
    """record_id -> its latest revision when the table's last one was ``seq``: the review
    state a file exported at ``seq`` shows."""
    cur = db.execute(f"SELECT {_COLS} FROM revisions WHERE seq <= ? ORDER BY seq", (seq,))
    return {r[0]: _row(r) for r in cur}


def insert_revisions(db: sqlite3.Connection, revisions: Iterable[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """Insert each revision with the record's next number, in the caller's transaction."""
    added = []
    now = time.time()
    for it in revisions:
        status = it["status"]
        if status not in STATUSES:
            raise ValueError(f"revision status must be one of {STATUSES}: {status!r}")
        last = db.execute("SELECT MAX(revision) FROM revisions WHERE record_id=?",
                          (it["record_id"],)).fetchone()[0] or 0
        row = (it["record_id"], last + 1, status,
               dumps({k: it.get("fields", {}).get(k) for k in FIELDS
                      if k in it.get("fields", {})}),
               it.get("note") or "", it.get("source") or "",
               it.get("source_sha256") or "", now, it.get("export_id") or "")
        db.execute(f"INSERT INTO revisions({_COLS}) VALUES (?,?,?,?,?,?,?,?,?)", row)
        added.append(_row(row))
    return added


def add_revisions(db: sqlite3.Connection, revisions: Iterable[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    items = list(revisions)
    with db:  # one transaction: all or nothing
        db.execute("BEGIN IMMEDIATE")
        return insert_revisions(db, items)


def mark_outputs_due(db: sqlite3.Connection) -> None:
    """In the caller's transaction: the files the revisions shape are not written yet."""
    db.execute("INSERT OR REPLACE INTO outputs_due(id, seq) VALUES (1, ?)", (last_seq(db),))


def outputs_due(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT COUNT(*) FROM outputs_due").fetchone()[0] > 0


def clear_outputs_due(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM outputs_due")


def latest_revisions(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    cur = db.execute(f"SELECT {_COLS} FROM revisions r WHERE revision = "
                     "(SELECT MAX(revision) FROM revisions WHERE record_id = r.record_id) "
                     "ORDER BY seq")
    return {r[0]: _row(r) for r in cur}


def all_revisions(db: sqlite3.Connection) -> list[dict[str, Any]]:
    return [_row(r) for r in db.execute(f"SELECT {_COLS} FROM revisions ORDER BY seq")]
