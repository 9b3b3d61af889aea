"""Shards of a Ray run in the run directory: completion markers, and the shard journals
an older tane left there.

The Ray executor (:mod:`tane.pipeline.ray_executor`) sends *shards* (the records of one
unit passing one run of per-record stages) to its workers. The driver commits a shard's
calls to ``run.sqlite``, then writes ``DIR/shards/<id>.done.json`` (the completion
marker, the shard's results) with :func:`mark_done`, then uses the results. Resume: a
shard with a marker is not sent again (:func:`read_done`). A shard's id hashes its records
and its stages' configuration, so a changed recipe never reuses a marker it should not.

Shard journals: an older tane had each worker journal its shard in
``DIR/shards/<id>.sqlite`` (:class:`ShardJournal`, on a filesystem every worker saw).
:func:`absorb_shards` moves such journals' calls into ``run.sqlite`` (one transaction per
shard, remembered in ``shards_absorbed`` so a shard is never counted twice) and removes
the files; every run does so at its start and its end, so ``review``, ``export``,
``stats``, ``eval`` and a later run see one journal.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from ..schema import dumps
from .files import atomic_write
from .journal import JournalWriter
from .rundir import BUSY_TIMEOUT_MS, CALLS_TABLE, connect

CALLS = CALLS_TABLE + "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);\n"
ABSORBED = "CREATE TABLE IF NOT EXISTS shards_absorbed (id TEXT PRIMARY KEY, calls INTEGER)"


def shard_dir(run_path: str | Path) -> Path:
    return Path(run_path) / "shards"


def _readonly(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                         check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db


class ShardJournal:
    """The journal of one shard (what :class:`~tane.llm.cache.CachedBackend` needs)."""

    def __init__(self, run_path: str | Path, shard_id: str):
        self.run_path = Path(run_path)
        self.id = shard_id
        self.path = shard_dir(run_path) / f"{shard_id}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = connect(self.path)
        self.db.executescript(CALLS)
        # this file's own id: a shard made again after its file was absorbed is new
        self.db.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('file', ?)",
                        (uuid.uuid4().hex,))
        self.main: sqlite3.Connection | None = None
        main = self.run_path / "run.sqlite"
        if main.exists():
            try:
                self.main = _readonly(main)
            except sqlite3.Error:  # not readable from here: the shard alone
                self.main = None
        self.writer = JournalWriter(self._writer_connection, path=str(self.path))

    def _writer_connection(self) -> sqlite3.Connection:
        return connect(self.path, any_thread=False)

    async def get_call_async(self, key: str) -> dict[str, Any] | None:
        queued = await self.writer.wait_committed(key)
        if queued is not None:
            return json.loads(queued)
        row = self.db.execute("SELECT response FROM calls WHERE key=?", (key,)).fetchone()
        if row is None and self.main is not None:
            try:
                row = self.main.execute("SELECT response FROM calls WHERE key=?",
                                        (key,)).fetchone()
            except sqlite3.Error:
                row = None
        return json.loads(row[0]) if row else None

    async def put_call_async(self, key: str, kind: str, request: dict[str, Any],
                             response: dict[str, Any]) -> None:
        row = (key, kind, dumps(request), dumps(response), time.time())
        await self.writer.put_call_async(key, row, row[3])

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.db.close()
            if self.main is not None:
                self.main.close()


def done_path(run_path: str | Path, shard_id: str) -> Path:
    return shard_dir(run_path) / f"{shard_id}.done.json"


def mark_done(run_path: str | Path, shard_id: str, result: dict[str, Any]) -> None:
    """Write the shard's completion marker (its results), atomically."""
    text = json.dumps(result, ensure_ascii=False)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(done_path(run_path, shard_id), write)


def read_done(run_path: str | Path, shard_id: str) -> dict[str, Any] | None:
    """A finished shard's results, or None (no marker, or an unreadable one)."""
    p = done_path(run_path, shard_id)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def absorb_shards(db: sqlite3.Connection, run_path: str | Path,
                  finished_only: bool = False) -> int:
    """Move shard journals' calls into the run's journal ``db`` (no worker may be writing
    them); returns the calls moved. A key already there adds its ``puts`` (so a repeated
    call stays visible). ``finished_only``: only shards with a completion marker."""
    folder = shard_dir(run_path)
    if not folder.is_dir():
        return 0
    db.execute(ABSORBED)
    moved = 0
    for path in sorted(folder.glob("*.sqlite")):
        sid = path.name[:-len(".sqlite")]
        if finished_only and not done_path(run_path, sid).exists():
            continue
        db.execute("ATTACH DATABASE ? AS shard", (str(path),))
        try:
            try:
                fid = db.execute("SELECT v FROM shard.meta WHERE k='file'").fetchone()[0]
            except (sqlite3.Error, TypeError):  # created but never written: nothing in it
                fid = None
            seen = fid is None or db.execute("SELECT 1 FROM shards_absorbed WHERE id=?",
                                             (fid,)).fetchone() is not None
            if not seen:
                db.execute("BEGIN IMMEDIATE")
                try:
                    n = db.execute("SELECT COUNT(*) FROM shard.calls").fetchone()[0]
                    db.execute("INSERT INTO calls(key, kind, request, response, puts, created) "
                               "SELECT key, kind, request, response, puts, created "
                               "FROM shard.calls WHERE true ON CONFLICT(key) DO UPDATE "
                               "SET puts = calls.puts + excluded.puts")
                    db.execute("INSERT INTO shards_absorbed(id, calls) VALUES (?, ?)", (fid, n))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                moved += n
        finally:
            db.execute("DETACH DATABASE shard")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return moved


__all__ = ["ShardJournal", "absorb_shards", "mark_done", "read_done", "shard_dir"]
