"""The run directory: call journal, record ledger and manifest.

Layout of ``DIR``::

    run.sqlite      call journal (request hash -> response) and ledger (kept/dropped)
    manifest.json   recipe, tane version, backend, start/finish times
    dataset.jsonl   kept records, written atomically when the run ends
    stats.json      per-stage counts, LLM usage and timings

    .lock           held (flock) by the run working in DIR; see :mod:`tane.store.lock`

Every LLM response is committed (WAL, synchronous=FULL) before anything derived from it
is emitted, so ``kill -9`` loses at most the calls that were in flight. The commits run on
a writer thread that groups whatever is queued into one transaction
(:mod:`tane.store.journal`): :meth:`RunDir.put_call_async` returns once the row is
durable, without blocking the event loop.

The ledger is rebuilt by every run, and its rows may be logged in any order: each row
carries an order key (``ord``, see :func:`order_key`) and readers return rows by
``ord, seq``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from ..schema import Drop, Record, dumps
from ..errors import DiskFullError, TaneError
from .files import atomic_write, os_error
from .journal import JournalWriter
from .lock import RunLock
from .revision_table import (add_revisions, changed_since, last_seq, latest_revisions,
                             revisions_at)
from .revision_table import migrate as migrate_revisions

BUSY_TIMEOUT_MS = 60_000

# the call journal's table: the run's journal and every shard journal (store/shards.py)
CALLS_TABLE = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    puts INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL
);
"""

SCHEMA = CALLS_TABLE + """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    record_id TEXT,
    status TEXT NOT NULL,          -- kept | dropped
    reason TEXT,
    detail TEXT,
    body TEXT NOT NULL,
    ord TEXT                       -- order key: readers sort by ord, seq
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
    export_id TEXT NOT NULL DEFAULT '',  -- the review file's export (stale-file check)
    UNIQUE(record_id, revision)
);
"""


LEDGER_INDEX = "CREATE INDEX IF NOT EXISTS ledger_order ON ledger(status, ord, seq)"


def connect(path: Path, any_thread: bool = True) -> sqlite3.Connection:
    """A journal connection: autocommit, WAL, every commit fsync'd, waiting up to
    ``BUSY_TIMEOUT_MS`` for another writer. ``any_thread=False``: only the thread that
    opened it may use it (the writer thread's own connection)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=not any_thread)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def order_key(*parts: int | str) -> str:
    """A ledger order key that sorts as the tuple ``parts`` does: integers (>= 0) are
    zero-padded to 12 digits, parts joined by ``/``. ``order_key(3, 12) < order_key(10, 0)``.
    """
    out = []
    for p in parts:
        if isinstance(p, int):
            if p < 0:
                raise ValueError(f"order key parts must be >= 0: {p}")
            out.append(f"{p:012d}")
        else:
            out.append(str(p))
    return "/".join(out)


def _keys(keys: Iterable[str | None] | None, n: int) -> list[str | None]:
    if keys is None:
        return [None] * n
    ks = list(keys)
    if len(ks) != n:
        raise ValueError(f"{len(ks)} order keys for {n} ledger rows")
    return ks


def check_dir_target(path: Path, flag: str = "--out") -> None:
    """A directory tane will create or reuse: refused (one line) when it, or a folder on
    its way, is a file."""
    if path.exists() and not path.is_dir():
        raise TaneError(f"{flag} names a file, not a directory", path=str(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise TaneError(f"{flag}: {parent} is a file, not a directory",
                                path=str(path))
            break


class RunDir:
    """An open run directory.

    ``lock=True`` takes the run lock (``DIR/.lock``) first: a second holder gets a
    one-line :class:`~tane.errors.TaneError`. Readers (review, export, stats) open it
    without the lock. :meth:`close` commits what is queued, joins the writer thread and
    releases the lock."""

    def __init__(self, path: str | Path, *, lock: bool = False):
        self.path = Path(path)
        check_dir_target(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_error(e, self.path) from None
        self.lock = RunLock(self.path).acquire() if lock else None
        try:
            self.db = connect(self.path / "run.sqlite")
            self.db.executescript(SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as e:
            if self.lock is not None:
                self.lock.release()
            raise os_error(e, self.path / "run.sqlite") from None
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        self.journal = JournalWriter(self._open_write_connection,
                                     path=str(self.path / "run.sqlite"))
        self._closed = False

    def _migrate(self) -> None:
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(ledger)")}
        if "ord" not in cols:  # run directories written before the ledger had order keys
            self.db.execute("ALTER TABLE ledger ADD COLUMN ord TEXT")
        self.db.execute(LEDGER_INDEX)
        migrate_revisions(self.db)

    def _open_write_connection(self) -> sqlite3.Connection:
        """The writer thread's connection (opened on that thread)."""
        return connect(self.path / "run.sqlite", any_thread=False)

    # -- call journal -------------------------------------------------------------
    def get_call(self, key: str) -> dict[str, Any] | None:
        """The journaled response of ``key``, including one still queued for commit."""
        queued = self.journal.pending_response(key)
        if queued is not None:
            return json.loads(queued)
        row = self.db.execute("SELECT response FROM calls WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    async def get_call_async(self, key: str) -> dict[str, Any] | None:
        """As :meth:`get_call`, but a response still queued is returned only once it is
        committed (so nothing is derived from a response that is not yet durable)."""
        queued = await self.journal.wait_committed(key)
        if queued is not None:
            return json.loads(queued)
        row = self.db.execute("SELECT response FROM calls WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    @staticmethod
    def _call_row(key: str, kind: str, request: dict[str, Any],
                  response: dict[str, Any]) -> tuple:
        return (key, kind, dumps(request), dumps(response), time.time())

    async def put_call_async(self, key: str, kind: str, request: dict[str, Any],
                             response: dict[str, Any]) -> None:
        """Journal one call; return once it is committed. The commit runs on the writer
        thread, grouped with the other calls queued meanwhile. A failed commit raises
        :class:`~tane.store.journal.JournalWriteError` here. A second put of the same key
        keeps the first response and counts ``puts``."""
        row = self._call_row(key, kind, request, response)
        await self.journal.put_call_async(key, row, row[3])

    def put_call(self, key: str, kind: str, request: dict[str, Any],
                 response: dict[str, Any]) -> None:
        """As :meth:`put_call_async`, blocking this thread until the commit."""
        row = self._call_row(key, kind, request, response)
        self.journal.put_call(key, row, row[3])

    def call_count(self) -> int:
        """Committed calls (what is queued is committed first)."""
        self.flush()
        return self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]

    def flush(self) -> None:
        """Block until every queued call and ledger row is committed."""
        self.journal.flush()

    async def flush_async(self) -> None:
        """As :meth:`flush`, without blocking the event loop."""
        await self.journal.flush_async()

    # -- ledger -------------------------------------------------------------------
    def reset_ledger(self) -> None:
        """The ledger is derived: a (re)run replays every stage from the journal."""
        self.flush()
        self.db.execute("DELETE FROM ledger")

    def log_kept(self, stage: str, records: Iterable[Record],
                 keys: Iterable[str | None] | None = None) -> None:
        """Queue kept records for the ledger. ``keys``: one order key per record (see
        :func:`order_key`); rows without one sort first, by arrival."""
        records = list(records)
        rows = [(stage, r.id, "kept", None, None, r.to_json(), k)
                for r, k in zip(records, _keys(keys, len(records)))]
        self.journal.put_ledger(rows)

    def log_drops(self, drops: Iterable[Drop],
                  keys: Iterable[str | None] | None = None) -> None:
        """Queue drops for the ledger; ``keys`` as in :meth:`log_kept`."""
        drops = list(drops)
        rows = [(d.stage, d.record_id, "dropped", d.reason, dumps(d.detail), d.text, k)
                for d, k in zip(drops, _keys(keys, len(drops)))]
        self.journal.put_ledger(rows)

    def drops(self) -> list[dict[str, Any]]:
        """Every dropped row, by order key then arrival (what is queued is committed
        first)."""
        self.flush()
        cur = self.db.execute("SELECT stage, record_id, reason, detail, body FROM ledger "
                              "WHERE status='dropped' ORDER BY ord, seq")
        return [{"stage": s, "record_id": rid, "reason": r, "detail": json.loads(d or "{}"),
                 "text": b} for s, rid, r, d, b in cur]

    def kept(self, stage: str | None = None) -> list[dict[str, Any]]:
        """The kept records' JSON (of one stage, or all), by order key then arrival."""
        self.flush()
        where, args = ("AND stage=?", (stage,)) if stage is not None else ("", ())
        cur = self.db.execute(f"SELECT body FROM ledger WHERE status='kept' {where} "
                              "ORDER BY ord, seq", args)
        return [json.loads(b) for (b,) in cur]

    # -- human review revisions (kept across reruns) -------------------------------
    def add_revisions(self, revisions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append revisions in one transaction; each gets the record's next revision
        number. Items: record_id, status, fields, note, source, source_sha256."""
        return add_revisions(self.db, revisions)

    def latest_revisions(self) -> dict[str, dict[str, Any]]:
        """record_id -> its latest revision."""
        return latest_revisions(self.db)

    def review_seq(self) -> int:
        """The review state now (see :func:`~tane.store.revision_table.last_seq`)."""
        return last_seq(self.db)

    def changed_since(self, seq: int) -> dict[str, dict[str, Any]]:
        """Each record's latest revision among those added after ``seq``."""
        return changed_since(self.db, seq)

    def revisions_at(self, seq: int) -> dict[str, dict[str, Any]]:
        """Each record's latest revision as of ``seq`` (what an export at ``seq`` shows)."""
        return revisions_at(self.db, seq)

    # -- files --------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")

    def write_jsonl(self, name: str, lines: Iterable[str]) -> Path:
        return self.write_text(name, "".join(line + "\n" for line in lines))

    def write_text(self, name: str, text: str) -> Path:
        """Atomic: a reader sees the old file or the new one, never half of it. The
        manifest alone, when the disk is full, is rewritten in place if the new text is
        no longer than the old (it takes no new blocks), so a run stopped by a full disk
        still says ``failed``."""
        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)

        target = self.path / name
        try:
            return atomic_write(target, write)
        except DiskFullError:
            data = text.encode("utf-8")
            if name != "manifest.json" or not target.exists() \
                    or len(data) > target.stat().st_size:
                raise
            with open(target, "r+b") as f:
                f.write(data)
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
            raise

    def close(self) -> None:
        """Commit what is queued, join the writer thread, close the database and release
        the lock. Idempotent. Raises a ledger write error not reported yet (after
        releasing everything)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.journal.close()
        finally:
            try:
                self.db.close()
            finally:
                if self.lock is not None:
                    self.lock.release()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
