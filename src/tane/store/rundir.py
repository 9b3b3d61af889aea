"""The run directory: call journal, record ledger and manifest.

Layout of ``DIR``::

    run.sqlite      call journal (request hash -> response) and ledger (kept/dropped)
    manifest.json   recipe, tane version, backend, start/finish times
    dataset.jsonl   kept records, written atomically when the run ends
    stats.json      per-stage counts, LLM usage and timings

Every LLM response is committed (WAL, synchronous=FULL) before anything derived from it
is emitted, so ``kill -9`` loses at most the calls that were in flight.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from ..schema import Drop, Record, dumps
from .files import atomic_write
from .revision_table import add_revisions, latest_revisions

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    puts INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    record_id TEXT,
    status TEXT NOT NULL,          -- kept | dropped
    reason TEXT,
    detail TEXT,
    body TEXT NOT NULL
);
-- human review decisions: never cleared by a rerun (see tane.store.revisions)
CREATE TABLE IF NOT EXISTS revisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,          -- keep | drop | edit
    fields TEXT NOT NULL,          -- JSON: instruction/input/output as reviewed
    note TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    source_sha256 TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    UNIQUE(record_id, revision)
);
"""


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path / "run.sqlite", isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    # -- call journal -------------------------------------------------------------
    def get_call(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT response FROM calls WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_call(self, key: str, kind: str, request: dict[str, Any],
                 response: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO calls(key, kind, request, response, created) VALUES (?,?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET puts = puts + 1",
            (key, kind, dumps(request), dumps(response), time.time()))

    def call_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    # -- ledger -------------------------------------------------------------------
    def reset_ledger(self) -> None:
        """The ledger is derived: a (re)run replays every stage from the journal."""
        self.db.execute("DELETE FROM ledger")

    def log_kept(self, stage: str, records: Iterable[Record]) -> None:
        rows = [(stage, r.id, "kept", None, None, r.to_json()) for r in records]
        self._insert(rows)

    def log_drops(self, drops: Iterable[Drop]) -> None:
        rows = [(d.stage, d.record_id, "dropped", d.reason, dumps(d.detail), d.text)
                for d in drops]
        self._insert(rows)

    def _insert(self, rows: list[tuple]) -> None:
        if rows:
            with self.db:
                self.db.executemany("INSERT INTO ledger(stage, record_id, status, reason, "
                                    "detail, body) VALUES (?,?,?,?,?,?)", rows)

    def drops(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT stage, record_id, reason, detail, body FROM ledger "
                              "WHERE status='dropped' ORDER BY seq")
        return [{"stage": s, "record_id": rid, "reason": r, "detail": json.loads(d or "{}"),
                 "text": b} for s, rid, r, d, b in cur]

    # -- human review revisions (kept across reruns) -------------------------------
    def add_revisions(self, revisions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append revisions in one transaction; each gets the record's next revision
        number. Items: record_id, status, fields, note, source, source_sha256."""
        return add_revisions(self.db, revisions)

    def latest_revisions(self) -> dict[str, dict[str, Any]]:
        """record_id -> its latest revision."""
        return latest_revisions(self.db)

    # -- files --------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")

    def write_jsonl(self, name: str, lines: Iterable[str]) -> Path:
        return self.write_text(name, "".join(line + "\n" for line in lines))

    def write_text(self, name: str, text: str) -> Path:
        """Atomic: a reader sees the old file or the new one, never half of it."""
        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)

        return atomic_write(self.path / name, write)

    def close(self) -> None:
        self.db.close()
