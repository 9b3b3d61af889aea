"""The web review's tables in ``run.sqlite``: reviewers (token hashes only) and the
append-only ``review_log`` (who, when, before, after, answers) that nothing updates or
deletes (triggers refuse it)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ...store.rundir import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS review_reviewers (
    name TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,              -- reviewer | admin
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS review_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    kind TEXT NOT NULL,              -- draft | submit | skip | undo | adjudicate
    created REAL NOT NULL,
    before TEXT NOT NULL,            -- {instruction, input, output} the reviewer saw
    after TEXT NOT NULL,             -- the same after the reviewer's edits
    answers TEXT NOT NULL,           -- question name -> answer
    note TEXT NOT NULL,
    undoes INTEGER                   -- kind undo: the seq it takes back
);
CREATE INDEX IF NOT EXISTS review_log_record ON review_log(record_id, seq);
CREATE INDEX IF NOT EXISTS review_log_reviewer ON review_log(reviewer, seq);
CREATE TRIGGER IF NOT EXISTS review_log_no_update BEFORE UPDATE ON review_log
BEGIN SELECT RAISE(ABORT, 'review_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS review_log_no_delete BEFORE DELETE ON review_log
BEGIN SELECT RAISE(ABORT, 'review_log is append-only'); END;
"""

KINDS = ("draft", "submit", "skip", "undo", "adjudicate")


@dataclass
class Entry:
    seq: int
    record_id: str
    reviewer: str
    kind: str
    created: float
    before: dict[str, str]
    after: dict[str, str]
    answers: dict[str, str]
    note: str
    undoes: int | None


def open_db(run_dir: str | Path) -> sqlite3.Connection:
    db = connect(Path(run_dir) / "run.sqlite")
    db.executescript(SCHEMA)
    return db


def set_reviewers(db: sqlite3.Connection, hashes: dict[str, tuple[str, str]]) -> None:
    """name -> (token sha256, role): replaces every stored token (links of an earlier
    start stop working)."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM review_reviewers")
        now = time.time()
        db.executemany("INSERT INTO review_reviewers VALUES (?,?,?,?)",
                       [(n, h, role, now) for n, (h, role) in hashes.items()])


def reviewer_by_hash(db: sqlite3.Connection, digest: str) -> tuple[str, str] | None:
    row = db.execute("SELECT name, role FROM review_reviewers WHERE token_sha256=?",
                     (digest,)).fetchone()
    return (row[0], row[1]) if row else None


def _entry(r: tuple) -> Entry:
    return Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]),
                 json.loads(r[7]), r[8], r[9])


_COLS = "seq, record_id, reviewer, kind, created, before, after, answers, note, undoes"


def append(db: sqlite3.Connection, record_id: str, reviewer: str, kind: str,
           before: dict[str, str], after: dict[str, str], answers: dict[str, str],
           note: str = "", undoes: int | None = None) -> int:
    """Add one entry in the caller's transaction; its seq."""
    assert kind in KINDS
    cur = db.execute(
        "INSERT INTO review_log(record_id, reviewer, kind, created, before, after, answers,"
        " note, undoes) VALUES (?,?,?,?,?,?,?,?,?)",
        (record_id, reviewer, kind, time.time(), json.dumps(before, ensure_ascii=False),
         json.dumps(after, ensure_ascii=False), json.dumps(answers, ensure_ascii=False),
         note, undoes))
    return int(cur.lastrowid)


def entries(db: sqlite3.Connection, record_id: str | None = None,
            reviewer: str | None = None, after_seq: int = 0) -> list[Entry]:
    where, args = ["seq > ?"], [after_seq]
    if record_id is not None:
        where.append("record_id = ?")
        args.append(record_id)
    if reviewer is not None:
        where.append("reviewer = ?")
        args.append(reviewer)
    cur = db.execute(f"SELECT {_COLS} FROM review_log WHERE {' AND '.join(where)} "
                     "ORDER BY seq", args)
    return [_entry(r) for r in cur]


def last_seq(db: sqlite3.Connection, record_id: str) -> int:
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM review_log WHERE record_id=?",
                      (record_id,)).fetchone()[0]


def effective(log: list[Entry]) -> dict[tuple[str, str], Entry]:
    """(record, reviewer) -> the entry that stands: the latest draft, submit, skip or
    adjudication not taken back by an undo (an undo brings back the one before)."""
    undone = {e.undoes for e in log if e.kind == "undo" and e.undoes is not None}
    out: dict[tuple[str, str], Entry] = {}
    for e in log:
        if e.kind != "undo" and e.seq not in undone:
            out[(e.record_id, e.reviewer)] = e
    return out
