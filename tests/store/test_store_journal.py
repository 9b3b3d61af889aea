"""The call journal's group commit: durable before acknowledged (kill -9 included), off the
event loop, queued rows readable, writer errors raised in the awaiting callers."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fakes import ScriptedBackend

from tane.errors import TaneError
from tane.llm.base import COMPLETION, Completion, GenParams, ModelInfo
from tane.llm.cache import CachedBackend
from tane.store.journal import JournalWriteError
from tane.store.rundir import RunDir

SRC = Path(__file__).resolve().parents[2] / "src"


def _rows(d: Path) -> dict[str, tuple[str, int]]:
    con = sqlite3.connect(d / "run.sqlite")
    try:
        return {k: (r, p) for k, r, p in con.execute("SELECT key, response, puts FROM calls")}
    finally:
        con.close()


def test_concurrent_puts_are_grouped_and_all_committed(tmp_path):
    rd = RunDir(tmp_path)

    async def main():
        await asyncio.gather(*(rd.put_call_async(f"k{i}", "chat", {"i": i}, {"text": str(i)})
                               for i in range(2000)))

    asyncio.run(main())
    commits = rd.journal.commits
    assert rd.journal.queued == 0
    # acknowledged means committed: another connection sees every row now, before close
    rows = _rows(tmp_path)
    assert len(rows) == 2000 and rows["k7"] == ('{"text": "7"}', 1)
    assert commits < 2000  # grouped: one transaction covered many calls
    assert rd.get_call("k1999") == {"text": "1999"}
    rd.close()
    rd.close()  # idempotent


def test_duplicate_put_counts_puts_and_keeps_the_first_response(tmp_path):
    rd = RunDir(tmp_path)

    async def main():
        await rd.put_call_async("k", "chat", {}, {"text": "first"})
        await asyncio.gather(rd.put_call_async("k", "chat", {}, {"text": "second"}),
                             rd.put_call_async("k", "chat", {}, {"text": "third"}))

    asyncio.run(main())
    rd.put_call("k", "chat", {}, {"text": "sync"})  # the synchronous path too
    rd.put_call("j", "chat", {}, {"text": "j"})
    rd.close()
    rows = _rows(tmp_path)
    assert rows["k"] == ('{"text": "first"}', 4) and rows["j"][1] == 1


def test_queued_rows_are_read_and_waited_for_while_the_loop_keeps_running(tmp_path):
    """A writer held up by another connection's write lock: the put is not acknowledged,
    get_call already answers from the queue, get_call_async waits for the commit, and the
    event loop is never blocked meanwhile."""
    rd = RunDir(tmp_path)
    blocker = sqlite3.connect(tmp_path / "run.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the database's write lock

    async def main():
        put = asyncio.create_task(rd.put_call_async("k", "chat", {"q": 1}, {"text": "a"}))
        ticks = 0
        for _ in range(20):  # the loop runs freely while the commit waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not put.done()
        assert rd.get_call("k") == {"text": "a"}  # readable while queued
        assert rd.journal.queued == 1
        got = asyncio.create_task(rd.get_call_async("k"))
        await asyncio.sleep(0.05)
        assert not got.done()  # not durable yet: not handed out
        assert _rows_while_locked() == {}
        blocker.execute("COMMIT")
        await asyncio.wait_for(put, 30)
        assert await asyncio.wait_for(got, 30) == {"text": "a"}

    def _rows_while_locked():
        con = sqlite3.connect(tmp_path / "run.sqlite")
        try:
            return dict(con.execute("SELECT key, response FROM calls"))
        finally:
            con.close()

    asyncio.run(main())
    assert rd.journal.queued == 0 and rd.get_call("k") == {"text": "a"}
    assert rd.get_call("missing") is None
    rd.close()
    blocker.close()


class TracedRunDir(RunDir):
    """Records which thread runs each INSERT on the write connection."""

    def _open_write_connection(self) -> sqlite3.Connection:
        db = super()._open_write_connection()
        threads = self.insert_threads = []
        db.set_trace_callback(
            lambda sql: threads.append(threading.current_thread().name)
            if sql.lstrip().upper().startswith("INSERT") else None)
        return db


def test_commits_run_on_the_writer_thread(tmp_path):
    rd = TracedRunDir(tmp_path)

    async def main():
        await asyncio.gather(*(rd.put_call_async(f"k{i}", "chat", {}, {"text": ""})
                               for i in range(50)))

    asyncio.run(main())
    rd.close()
    assert rd.insert_threads and set(rd.insert_threads) == {"tane-journal"}


class SmallDiskRunDir(RunDir):
    """The write connection may not grow the database past its current size: SQLite's
    own 'database or disk is full' (SQLITE_FULL), raised on the writer thread."""

    def _open_write_connection(self) -> sqlite3.Connection:
        db = super()._open_write_connection()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")
        return db


def test_disk_full_reaches_every_awaiting_caller(tmp_path):
    RunDir(tmp_path).close()
    rd = SmallDiskRunDir(tmp_path)
    big = {"text": "x" * 20000}

    async def main():
        return await asyncio.gather(*(rd.put_call_async(f"k{i}", "chat", {}, big)
                                      for i in range(8)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, JournalWriteError) for r in results), results
    assert isinstance(results[0], TaneError)
    assert str(results[0]).startswith("no space left on ")
    assert f"while writing {tmp_path / 'run.sqlite'}; free space and rerun" in str(results[0])
    assert results[0].exit_code == 5
    assert "database or disk is full" in str(results[0].__cause__)
    assert isinstance(results[0].__cause__, sqlite3.Error)
    assert len({id(r) for r in results}) == 8  # one exception object per caller
    assert rd.get_call("k0") is None and rd.journal.queued == 0  # nothing half-known
    with pytest.raises(JournalWriteError):  # the synchronous path raises too
        rd.put_call("s", "chat", {}, big)
    rd.log_kept("x", [])  # nothing queued: no error
    rd.close()
    assert _rows(tmp_path) == {}


def test_a_failing_row_fails_only_its_own_caller(tmp_path):
    rd = RunDir(tmp_path)
    rd.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.key LIKE 'bad%' "
                  "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END")

    async def main():
        return await asyncio.gather(*(rd.put_call_async(k, "chat", {}, {"text": k})
                                      for k in ["a", "bad1", "b", "c", "bad2", "d"]),
                                    return_exceptions=True)

    results = asyncio.run(main())
    rd.close()
    failed = [isinstance(r, JournalWriteError) for r in results]
    assert failed == [False, True, False, False, True, False]
    assert "refused by trigger" in str(results[1])
    assert sorted(_rows(tmp_path)) == ["a", "b", "c", "d"]


def test_a_ledger_write_error_is_raised_by_flush(tmp_path):
    rd = RunDir(tmp_path)
    rd.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON ledger "
                  "BEGIN SELECT RAISE(ABORT, 'ledger refused'); END")
    from tane.schema import Drop
    rd.log_drops([Drop(stage="s", reason="r", record_id="x", text="t")])
    with pytest.raises(JournalWriteError, match="ledger refused"):
        rd.flush()
    rd.flush()  # reported once
    rd.log_drops([Drop(stage="s", reason="r", record_id="y", text="t")])
    with pytest.raises(JournalWriteError, match="ledger refused"):
        rd.close()
    assert rd.lock is None


CHILD = textwrap.dedent("""
    import asyncio, os, sys
    from tane.store.rundir import RunDir

    async def main():
        rd = RunDir(sys.argv[1])
        counter = iter(range(10**9))

        async def worker():
            while True:
                i = next(counter)
                await rd.put_call_async(f"k{i}", "chat", {"i": i},
                                        {"text": "response %d " % i * 20})
                os.write(1, b"%d\\n" % i)  # acknowledged: the caller may use it now

        await asyncio.gather(*(worker() for _ in range(64)))

    asyncio.run(main())
""")


def test_every_acknowledged_put_survives_kill_9(tmp_path):
    run = tmp_path / "run"
    env = os.environ | {"PYTHONPATH": str(SRC)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(run)], stdout=subprocess.PIPE,
                             env=env)
    acked: list[int] = []
    buf = b""
    deadline = time.monotonic() + 120
    while len(acked) < 3000 and time.monotonic() < deadline:
        chunk = os.read(child.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        acked.extend(int(x) for x in lines)
    os.kill(child.pid, signal.SIGKILL)
    rest = child.stdout.read()  # acknowledgements written before the kill
    child.wait()
    assert child.returncode == -signal.SIGKILL
    buf += rest
    acked.extend(int(x) for x in buf.split(b"\n")[:-1] if x)
    assert len(acked) >= 3000, "the child did not put fast enough"
    rows = _rows(run)
    missing = [i for i in acked if f"k{i}" not in rows]
    assert missing == []
    assert all(rows[f"k{i}"][1] == 1 for i in acked)
    rd = RunDir(run)  # the run directory opens fine after the kill
    assert rd.get_call(f"k{acked[-1]}")["text"].startswith(f"response {acked[-1]} ")
    rd.close()


def trivial() -> ScriptedBackend:
    """A mock backend that answers at once: a completion is the prompt reversed, a chat
    the last message in capitals."""
    def script(kind, prompt, params):
        text = prompt[::-1] if kind == COMPLETION else prompt[-1]["content"].upper()
        return Completion(text, "stop", 1, 1, "trivial")
    return ScriptedBackend(script, info=ModelInfo(id="trivial"))


def test_cached_backend_journals_through_group_commit_and_replays(tmp_path):
    params = GenParams(max_tokens=8)

    async def run(rd):
        inner = trivial()
        llm = CachedBackend(inner, rd)
        out = await asyncio.gather(*(llm.chat([{"role": "user", "content": f"q{i}"}], params)
                                     for i in range(300)),
                                   llm.complete("abc", params))
        return len(inner.calls), out

    rd = RunDir(tmp_path)
    calls, out = asyncio.run(run(rd))
    assert calls == 301 and out[5].text == "Q5" and out[-1].text == "cba"
    assert rd.journal.commits < 301
    rd.close()
    rd = RunDir(tmp_path)
    calls, again = asyncio.run(run(rd))
    rd.close()
    assert calls == 0 and all(c.cached for c in again)
    assert [c.text for c in again] == [c.text for c in out]
    assert max(p for _, p in _rows(tmp_path).values()) == 1


def test_cached_backend_still_takes_a_synchronous_journal():
    class Dict:
        def __init__(self):
            self.d = {}

        def get_call(self, key):
            return self.d.get(key)

        def put_call(self, key, kind, request, response):
            self.d[key] = response

    j, inner = Dict(), trivial()
    llm = CachedBackend(inner, j)
    p = GenParams()
    asyncio.run(llm.complete("xy", p))
    assert asyncio.run(llm.complete("xy", p)).cached and len(inner.calls) == 1 and len(j.d) == 1
