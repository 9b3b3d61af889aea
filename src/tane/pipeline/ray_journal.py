"""The calls of a Ray run: made on the workers, committed by the driver.

The run's journal is ``DIR/run.sqlite``, on the driver's machine only. A worker's shard
keeps its calls in a cache of its own node (:class:`ShardCache`, a SQLite file in the
node's temporary folder, keyed by the run and the shard): a call is written there before
its result is used, so a retry of the shard on the same node (a worker killed and
restarted by Ray) replays it. The worker returns the shard's calls with its results,
through Ray; the driver commits them to the run's journal (:func:`commit_calls`) before it
uses the results, then tells the worker to forget the cache.

A call the driver has already committed is never made again: when a run starts with calls
in its journal (a resume, a rerun with another shard size, a run that began with
``--executor local``), a worker asks the driver for each call its cache lacks, through a
small actor (:class:`JournalDesk`) that the driver replies to from ``run.sqlite``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from ..schema import dumps
from ..store.journal import JournalWriter
from ..store.rundir import CALLS_TABLE, connect

# how long a worker waits for the driver's reply before it makes the call itself (the
# driver replies in milliseconds; this is for a desk lost with its node)
DESK_WAIT = 60.0

# one call as it travels back: [key, kind, request, response, made]; ``made``: this try
# made it (else it came from the node's cache, made by an earlier try of the shard)
Call = list[Any]


class ShardCache:
    """One shard's calls on a worker (what :class:`~tane.llm.cache.CachedBackend` needs):
    found in the node's cache of this shard, else given by the driver (``desk``), else
    made; every call made or replayed from the cache is kept for the driver."""

    def __init__(self, folder: Path, shard_id: str, desk: Any = None):
        self.path = folder / f"{shard_id}.sqlite"
        self.db = connect(self.path)
        self.db.executescript(CALLS_TABLE)
        self.writer = JournalWriter(lambda: connect(self.path, any_thread=False),
                                    path=str(self.path), name="tane-shard-cache")
        self.desk = desk
        self.calls: dict[str, Call] = {}

    async def get_call_async(self, key: str) -> dict[str, Any] | None:
        queued = await self.writer.wait_committed(key)
        if queued is not None:  # made by this try, written since
            made: dict[str, Any] = json.loads(queued)
            return made
        row = self.db.execute("SELECT kind, request, response FROM calls WHERE key=?",
                              (key,)).fetchone()
        if row is not None:
            response: dict[str, Any] = json.loads(row[2])
            if key not in self.calls:
                self.calls[key] = [key, row[0], json.loads(row[1]), response, False]
            return response
        if self.desk is not None:
            try:
                found: dict[str, Any] | None = await asyncio.wait_for(
                    self.desk.ask.remote(key), DESK_WAIT)
            except Exception:  # no reply: the call is made (and counted if repeated)
                return None
            return found
        return None

    async def put_call_async(self, key: str, kind: str, request: dict[str, Any],
                             response: dict[str, Any]) -> None:
        row = (key, kind, dumps(request), dumps(response), time.time())
        await self.writer.put_call_async(key, row, row[3])  # on this node's disk first
        self.calls[key] = [key, kind, request, response, True]

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.db.close()


def forget(folder: Path, shard_id: str) -> None:
    """Remove a shard's cache (the driver has committed its calls)."""
    for suffix in ("", "-wal", "-shm"):
        (folder / f"{shard_id}.sqlite{suffix}").unlink(missing_ok=True)


async def commit_calls(journal: Any, calls: list[Call]) -> None:
    """Commit a shard's calls to the run's journal; returns once they are durable. A call
    the shard made is put (a key already there counts as a repeated call); one replayed
    from a node's cache is put only when the journal lacks it."""
    puts = [journal.put_call_async(key, kind, request, response)
            for key, kind, request, response, made in calls
            if made or await journal.get_call_async(key) is None]
    await asyncio.gather(*puts)


class JournalDesk:
    """Where workers ask for calls the driver has committed (a Ray actor). ``ask`` waits
    for the driver's reply; the driver takes the questions with ``wanted`` and replies
    with ``reply``."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[asyncio.Future[Any]]] = {}
        self.queue: list[str] = []
        self.event: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self.event is None:
            self.event = asyncio.Event()
        return self.event

    async def ask(self, key: str) -> dict[str, Any] | None:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if key not in self.waiting:
            self.waiting[key] = []
            self.queue.append(key)
            self._event().set()
        self.waiting[key].append(fut)
        result: dict[str, Any] | None = await fut
        return result

    async def wanted(self, wait: float) -> list[str]:
        """The keys asked since the last call (waits up to ``wait`` seconds for one)."""
        event = self._event()
        if not self.queue:
            try:
                await asyncio.wait_for(event.wait(), wait)
            except asyncio.TimeoutError:
                pass
        keys, self.queue = self.queue, []
        event.clear()
        return keys

    async def reply(self, rows: dict[str, Any]) -> None:
        for key, response in rows.items():
            for fut in self.waiting.pop(key, []):
                if not fut.done():
                    fut.set_result(response)


async def serve_desk(desk: Any, journal: Any) -> None:
    """The driver's side of the desk: reply to every question from the run's journal (a
    committed response, or None), until cancelled."""
    while True:
        keys: list[str] = await desk.wanted.remote(1.0)
        if keys:
            rows = {k: await journal.get_call_async(k) for k in keys}
            await desk.reply.remote(rows)


__all__ = ["Call", "JournalDesk", "ShardCache", "commit_calls", "forget", "serve_desk"]
