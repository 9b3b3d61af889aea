"""The web review's tables in ``run.sqlite``: reviewers (token hashes only), the
append-only ``review_log`` (who, when, before, after, answers) that nothing updates or
deletes (triggers refuse it), and the settings it is served with. Reading the log is
:mod:`tane.store.review_log`'s."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ...store.review_log import Entry, effective, entries, last_seq  # noqa: F401
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
CREATE TABLE IF NOT EXISTS review_settings (
    key TEXT PRIMARY KEY,            -- questions | overlap | rule | include_dropped
    value TEXT NOT NULL              -- JSON
);
"""

KINDS = ("draft", "submit", "skip", "undo", "adjudicate")


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


def set_settings(db: sqlite3.Connection, settings: dict[str, Any]) -> None:
    """What the review is served with, for the figures read without the server (the
    dataset card)."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO review_settings VALUES (?,?)",
                       [(k, json.dumps(v, ensure_ascii=False)) for k, v in settings.items()])


def reviewer_by_hash(db: sqlite3.Connection, digest: str) -> tuple[str, str] | None:
    row = db.execute("SELECT name, role FROM review_reviewers WHERE token_sha256=?",
                     (digest,)).fetchone()
    return (row[0], row[1]) if row else None


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
