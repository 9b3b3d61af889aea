"""Reading the web review's append-only ``review_log`` in ``run.sqlite`` (written by
:mod:`tane.review.web.store`): its entries, the entry that stands per record and
reviewer, and the settings the review was last served with."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import loads


@dataclass
class Entry:
    seq: int
    record_id: str
    reviewer: str
    kind: str                        # draft | submit | skip | undo | adjudicate
    created: float
    before: dict[str, str]
    after: dict[str, str]
    answers: dict[str, str]
    note: str
    undoes: int | None


COLS = "seq, record_id, reviewer, kind, created, before, after, answers, note, undoes"


def entry_of(r: tuple) -> Entry:
    """An entry from a row of ``SELECT {COLS}``."""
    return Entry(r[0], r[1], r[2], r[3], r[4], loads(r[5]), loads(r[6]), loads(r[7]), r[8],
                 r[9])


def entries(db: sqlite3.Connection, record_id: str | None = None,
            reviewer: str | None = None, after_seq: int = 0) -> list[Entry]:
    where, args = ["seq > ?"], [after_seq]
    if record_id is not None:
        where.append("record_id = ?")
        args.append(record_id)
    if reviewer is not None:
        where.append("reviewer = ?")
        args.append(reviewer)
    cur = db.execute(f"SELECT {COLS} FROM review_log WHERE {' AND '.join(where)} "
                     "ORDER BY seq", args)
    return [entry_of(r) for r in cur]


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


def decision_key(e: Entry) -> tuple[str, str]:
    """What two submissions must share to agree on the outcome: the decision and, for an
    edit, the text."""
    d = e.answers.get("decision", "")
    return d, (json.dumps(e.after, sort_keys=True, ensure_ascii=False) if d == "edit" else "")


def disagree(subs: list[Entry]) -> bool:
    """Whether the submissions differ in any answer or in their text."""
    return len({(decision_key(e), json.dumps(e.answers, sort_keys=True))
                for e in subs}) > 1


def read_log(run_dir: str | Path) -> tuple[list[Entry], dict[str, Any]]:
    """The whole log and the settings, read only; ([], {}) where the run was never
    served."""
    path = Path(run_dir) / "run.sqlite"
    if not path.is_file():
        return [], {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        try:
            log = [entry_of(r) for r in db.execute(f"SELECT {COLS} FROM review_log "
                                                  "ORDER BY seq")]
        except sqlite3.OperationalError:  # no review_log: never served
            return [], {}
        return log, read_settings(db)
    finally:
        db.close()


def read_settings(db: sqlite3.Connection) -> dict[str, Any]:
    """What the review was last served with (questions, overlap, rule, include_dropped);
    {} before any."""
    try:
        rows = db.execute("SELECT key, value FROM review_settings").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {k: json.loads(v) for k, v in rows}
