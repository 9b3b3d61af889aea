"""Group commit for the call journal and the ledger: one writer thread, one transaction
per batch, off the event loop.

Callers queue rows; the writer thread takes whatever is queued (up to ``MAX_BATCH`` rows),
writes it in one transaction on its own connection (WAL, ``synchronous=FULL``) and only
then settles each caller's future. So a response is durable before its caller goes on,
while one fsync covers every call that finished during the previous commit.

* :meth:`JournalWriter.put_call_async` resolves after the row's transaction committed;
  a failed commit (disk full, I/O error) raises in the awaiting caller.
* :meth:`JournalWriter.put_call` is the same for synchronous callers (blocks the thread).
* :meth:`JournalWriter.pending_response` answers for keys still queued, so the journal
  reads correctly before the commit; :meth:`JournalWriter.wait_committed` lets a reader
  wait until such a key is durable before using it.
* Ledger rows (:meth:`JournalWriter.put_ledger`) ride in the same transactions and are
  not waited for: rows queued alone wait (up to ``LEDGER_LINGER`` seconds) for the next
  call row, flush or close, so that they do not cost a commit of their own. An error
  writing them is raised by the next :meth:`flush` or :meth:`close`.

A batch that fails is retried one call per transaction, so only the rows that cannot be
written fail their callers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
import time
from typing import Any, Callable

from ..errors import TaneError
from .files import disk_full, is_disk_full

MAX_BATCH = 4096
LEDGER_LINGER = 1.0  # seconds ledger rows may wait for a call's transaction

INSERT_CALL = ("INSERT INTO calls(key, kind, request, response, created) VALUES (?,?,?,?,?) "
               "ON CONFLICT(key) DO UPDATE SET puts = puts + 1")
INSERT_LEDGER = ("INSERT INTO ledger(stage, record_id, status, reason, detail, body, ord) "
                 "VALUES (?,?,?,?,?,?,?)")


class JournalClosed(RuntimeError):
    """A write was queued after :meth:`JournalWriter.close`."""


class JournalWriteError(TaneError):
    """A journal or ledger row could not be committed (disk full, I/O error, ...). Each
    caller gets its own instance; the SQLite error is its ``__cause__``."""

    def __init__(self, path: str, cause: BaseException):
        if is_disk_full(cause):
            full = disk_full(path)
            super().__init__(full.message)
            self.exit_code = full.exit_code
        else:
            super().__init__(f"could not write the run journal: {cause}", path=path)
        self.__cause__ = cause


class _Put:
    """One queued call row and whoever waits for it to be committed."""

    __slots__ = ("key", "row", "response", "waiters", "done", "error")

    def __init__(self, key: str, row: tuple, response: str):
        self.key = key
        self.row = row
        self.response = response  # JSON text of the response, as the row will hold it
        # (loop, asyncio.Future) pairs or concurrent.futures.Future objects
        self.waiters: list[Any] = []
        self.done = False
        self.error: BaseException | None = None


class _Ledger:
    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple]):
        self.rows = rows


class _Flush:
    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()


_STOP = object()


class JournalWriter:
    """Owns the write connection of one ``run.sqlite`` and the thread that uses it.

    ``connect`` opens that connection; it is called on the writer thread, once, when the
    first row is queued."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], path: str = "run.sqlite",
                 name: str = "tane-journal"):
        self._connect = connect
        self.path = path
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending: dict[str, _Put] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self._unreported: BaseException | None = None  # a ledger write that failed
        self.commits = 0  # transactions committed (for benchmarks and tests)
        self.rows = 0     # call + ledger rows committed
        self.commit_seconds = 0.0  # time the writer thread spent in transactions

    # -- queueing -------------------------------------------------------------------
    def _start(self) -> None:
        if self._closed:
            raise JournalClosed("the run directory's journal is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _enqueue_put(self, key: str, row: tuple, response: str, waiter: Any) -> None:
        with self._lock:
            self._start()
            prev = self._pending.get(key)
            # the row keeps its first response (a duplicate only counts puts)
            put = _Put(key, row, prev.response if prev is not None else response)
            put.waiters.append(waiter)
            self._pending[key] = put
            self._queue.put(put)

    async def put_call_async(self, key: str, row: tuple, response: str) -> None:
        """Queue a call row; return once its transaction has committed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._enqueue_put(key, row, response, (loop, fut))
        await fut

    def put_call(self, key: str, row: tuple, response: str) -> None:
        """Queue a call row and block this thread until it has committed."""
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._enqueue_put(key, row, response, fut)
        fut.result()

    def put_ledger(self, rows: list[tuple]) -> None:
        """Queue ledger rows; not waited for."""
        if rows:
            with self._lock:
                self._start()
                self._queue.put(_Ledger(rows))

    # -- reading what is queued -------------------------------------------------------
    def pending_response(self, key: str) -> str | None:
        """The response JSON of ``key`` if it is queued and not yet committed."""
        put = self._pending.get(key)
        return put.response if put is not None else None

    async def wait_committed(self, key: str) -> str | None:
        """If ``key`` is queued: wait for its commit and return its response JSON (raises
        if the commit failed). ``None`` when it is not queued (committed or unknown)."""
        with self._lock:
            put = self._pending.get(key)
            if put is None:
                return None
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            put.waiters.append((loop, fut))
        await fut
        return put.response

    @property
    def queued(self) -> int:
        return len(self._pending)

    # -- flushing and closing ---------------------------------------------------------
    def _flush_marker(self) -> "_Flush | None":
        """A marker queued behind everything so far (None when the writer is not running)."""
        with self._lock:
            if self._thread is None or self._closed:
                return None
            marker = _Flush()
            self._queue.put(marker)
            return marker

    def flush(self) -> None:
        """Block until everything queued so far is committed; raise a ledger write error
        not reported yet."""
        marker = self._flush_marker()
        if marker is not None:
            marker.future.result()
        self._raise_unreported()

    async def flush_async(self) -> None:
        marker = self._flush_marker()
        if marker is not None:
            await asyncio.wrap_future(marker.future)
        self._raise_unreported()

    def close(self) -> None:
        """Commit what is queued, stop and join the thread. Idempotent. Raises a ledger
        write error not reported yet."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join()
        self._raise_unreported()

    def _raise_unreported(self) -> None:
        err, self._unreported = self._unreported, None
        if err is not None:
            raise err

    # -- the writer thread ------------------------------------------------------------
    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        connect_error: BaseException | None = None
        try:
            conn = self._connect()
        except BaseException as e:  # every queued caller gets it
            connect_error = e
        # ledger rows queued with no call, flush or stop beside them wait here for the
        # next transaction (at most LEDGER_LINGER seconds): nobody waits for them, and a
        # transaction of their own cost a commit for about every call
        held: list[_Ledger] = []
        held_rows = 0
        try:
            stop = False
            while not stop:
                try:
                    first = self._queue.get(timeout=LEDGER_LINGER if held else None)
                except queue.Empty:
                    batch: list[Any] = []
                else:
                    batch = [first]
                    n = _size(first)
                    while n < MAX_BATCH:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        batch.append(item)
                        n += _size(item)
                puts: list[_Put] = []
                ledgers: list[_Ledger] = []
                flushes: list[_Flush] = []
                for item in batch:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, _Put):
                        puts.append(item)
                    elif isinstance(item, _Ledger):
                        ledgers.append(item)
                    else:
                        flushes.append(item)
                if batch and not (puts or flushes or stop):
                    held.extend(ledgers)
                    held_rows += sum(len(lg.rows) for lg in ledgers)
                    if held_rows < MAX_BATCH:
                        continue
                    ledgers = []
                if held:
                    ledgers = held + ledgers
                    held, held_rows = [], 0
                try:
                    if puts or ledgers:
                        if conn is None:
                            self._fail(puts, ledgers,
                                       connect_error or JournalClosed("no connection"))
                        else:
                            self._write(conn, puts, ledgers)
                except BaseException as e:  # never leave a caller waiting
                    self._fail([p for p in puts if not p.done], ledgers, e)
                for f in flushes:
                    f.future.set_result(None)
        finally:
            if conn is not None:
                conn.close()

    def _write(self, conn: sqlite3.Connection, puts: list[_Put],
               ledgers: list[_Ledger]) -> None:
        ledger_rows = [row for lg in ledgers for row in lg.rows]
        try:
            self._commit(conn, [p.row for p in puts], ledger_rows)
        except Exception as e:
            if len(puts) <= 1:
                self._fail(puts, ledgers, e)
                return
            # retry one call per transaction: only the rows that cannot be written fail
            ok: list[_Put] = []
            for p in puts:
                try:
                    self._commit(conn, [p.row], [])
                except Exception as e1:
                    self._fail([p], [], e1)
                else:
                    ok.append(p)
            self._settle(ok)
            if ledger_rows:
                try:
                    self._commit(conn, [], ledger_rows)
                except Exception as e2:
                    self._fail([], ledgers, e2)
            return
        self._settle(puts)

    def _commit(self, conn: sqlite3.Connection, calls: list[tuple],
                ledger_rows: list[tuple]) -> None:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if calls:
                conn.executemany(INSERT_CALL, calls)
            if ledger_rows:
                conn.executemany(INSERT_LEDGER, ledger_rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        self.rows += len(calls) + len(ledger_rows)
        self.commit_seconds += time.perf_counter() - t0

    def _settle(self, puts: list[_Put], error: BaseException | None = None) -> None:
        with self._lock:
            waiters: list[Any] = []
            for p in puts:
                p.done, p.error = True, error
                if self._pending.get(p.key) is p:
                    del self._pending[p.key]
                waiters.extend(p.waiters)
                p.waiters = []
        by_loop: dict[Any, list[asyncio.Future]] = {}
        for w in waiters:
            if isinstance(w, tuple):
                by_loop.setdefault(w[0], []).append(w[1])
            elif error is None:
                w.set_result(None)
            else:
                w.set_exception(JournalWriteError(self.path, error))
        for loop, futs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, futs, error, self.path)
            except RuntimeError:  # that loop is closed: nobody waits any more
                pass

    def _fail(self, puts: list[_Put], ledgers: list[_Ledger], error: BaseException) -> None:
        self._settle(puts, error)
        if ledgers and self._unreported is None:
            self._unreported = JournalWriteError(self.path, error)


def _size(item: Any) -> int:
    return len(item.rows) if isinstance(item, _Ledger) else 1


def _resolve(futs: list[asyncio.Future], error: BaseException | None, path: str) -> None:
    for f in futs:
        if f.done():  # the waiting task was cancelled
            continue
        if error is None:
            f.set_result(None)
        else:
            f.set_exception(JournalWriteError(path, error))
