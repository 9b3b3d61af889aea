"""Resume speed of the call journal, and what group commit buys over one commit per call.

    python bench/replay.py [--calls 100000] [--concurrency 512] [--legacy-calls 5000]
                           [--dir DIR] [--keep]

Three measurements, in one process, on the same disk:

1. **Write, group commit.** ``--calls`` synthetic chat requests (distinct prompts, Japanese
   and English, a few hundred characters each) go through ``CachedBackend`` over a trivial
   in-process backend that answers at once, into a fresh run directory: each call waits
   until the writer thread has committed it (WAL, ``synchronous=FULL``), as in a run.
2. **Replay.** The run directory is opened again and the same ``--calls`` requests go
   through a new ``CachedBackend`` whose backend fails if called: every answer comes from
   the journal. Target: under 30 s for 100,000 calls.
3. **Write, one commit per call** (the journal before group commit: an autocommit INSERT
   on the event loop, same pragmas), on ``--legacy-calls`` requests; one fsync per call
   makes the full 100,000 take minutes, so the figure is also scaled to ``--calls``
   (``--legacy-calls 100000`` measures it all).

Each phase runs ``--concurrency`` workers on one asyncio loop (continuous, like a run's
in-flight limit); the backend yields to the loop once per call, as a network call would.
``commits on loop`` is the time the event loop itself spent committing (every commit, for
one commit per call; none with the writer thread, whose own commit time is shown beside).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tane.llm.base import CHAT, COMPLETION, Completion, GenParams, ModelInfo  # noqa: E402
from tane.llm.cache import CachedBackend  # noqa: E402
from tane.schema import dumps  # noqa: E402
from tane.store.rundir import SCHEMA, RunDir  # noqa: E402

TARGET_S = 30.0
JA = "次の文章を読んで、要点を三つにまとめてください。日本の四季は春夏秋冬それぞれに特徴があり、"
EN = "Read the following passage and summarise it in three points. The four seasons each "


class Trivial:
    """Answers at once; ``fail=True`` makes every call an error (replay must not call)."""

    info = ModelInfo(id="trivial-bench", backend="bench")
    capabilities = frozenset({COMPLETION, CHAT})

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.calls = 0

    def model_for(self, kind: str) -> ModelInfo:
        return self.info

    async def complete(self, prompt, params, target=COMPLETION):
        return await self.chat([{"role": "user", "content": prompt}], params)

    async def chat(self, messages, params):
        if self.fail:
            raise AssertionError("replay called the backend")
        await asyncio.sleep(0)  # a network call would let other tasks run
        self.calls += 1
        q = messages[-1]["content"]
        return Completion(text=f"回答: {q[:120]} / answer {len(q)} " * 3, finish_reason="stop",
                          prompt_tokens=len(q) // 3, completion_tokens=90, model="trivial")

    async def aclose(self) -> None:
        pass


class LegacyJournal:
    """The journal before group commit: one autocommit INSERT (WAL, synchronous=FULL) per
    call, on the event loop."""

    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "run.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.put_seconds = 0.0
        self.worst_put = 0.0

    def get_call(self, key):
        row = self.db.execute("SELECT response FROM calls WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_call(self, key, kind, request, response):
        t = time.perf_counter()
        self.db.execute(
            "INSERT INTO calls(key, kind, request, response, created) VALUES (?,?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET puts = puts + 1",
            (key, kind, dumps(request), dumps(response), time.time()))
        t = time.perf_counter() - t
        self.put_seconds += t
        self.worst_put = max(self.worst_put, t)

    def close(self):
        self.db.close()


def messages(i: int) -> list[dict[str, str]]:
    body = (JA if i % 2 else EN) * 4
    return [{"role": "system", "content": "You write instruction-tuning data."},
            {"role": "user", "content": f"#{i} {body}"}]


PARAMS = GenParams(temperature=0.7, max_tokens=256, seed=1)


async def drive(llm: CachedBackend, n: int, concurrency: int) -> float:
    """``n`` chat calls from ``concurrency`` workers; wall seconds."""
    nxt = iter(range(n))

    async def worker():
        for i in nxt:
            await llm.chat(messages(i), PARAMS)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--legacy-calls", type=int, default=5000,
                    help="calls for the one-commit-per-call figure (0: skip)")
    ap.add_argument("--dir", type=Path, default=None, help="where to build the run directories")
    ap.add_argument("--keep", action="store_true", help="keep the run directories")
    a = ap.parse_args()

    base = Path(tempfile.mkdtemp(prefix="tane-replay-", dir=a.dir))
    n, c = a.calls, a.concurrency
    try:
        # 1. write with group commit
        rd = RunDir(base / "group")
        inner = Trivial()
        w = asyncio.run(drive(CachedBackend(inner, rd), n, c))
        commits, commit_s = rd.journal.commits, rd.journal.commit_seconds
        rd.close()
        assert inner.calls == n
        size = (base / "group" / "run.sqlite").stat().st_size

        # 2. replay from the journal
        t = time.perf_counter()
        rd = RunDir(base / "group")
        opened = time.perf_counter() - t
        r = asyncio.run(drive(CachedBackend(Trivial(fail=True), rd), n, c))
        assert rd.call_count() == n
        rd.close()

        # 3. write with one commit per call
        legacy = None
        if a.legacy_calls > 0:
            lj = LegacyJournal(base / "legacy")
            legacy = asyncio.run(drive(CachedBackend(Trivial(), lj), a.legacy_calls, c))
            lj.close()
    finally:
        if a.keep:
            print(f"run directories kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    print(f"journal: {n:,} calls, concurrency {c}, run.sqlite {size / 1e6:.1f} MB "
          f"(WAL, synchronous=FULL)")
    print()
    print(f"{'':34}{'seconds':>9}{'calls/s':>10}{'ms/call':>9}{'commits on loop':>17}")

    def line(name: str, secs: float, calls: int, on_loop: str, note: str = "") -> None:
        print(f"{name:34}{secs:9.2f}{calls / secs:10,.0f}{1000 * secs / calls:9.3f}"
              f"{on_loop:>17}{note}")

    line("write, group commit", w, n, "0 s",
         f"   {commits:,} commits ({n / max(commits, 1):.0f} calls each, "
         f"{commit_s:.1f} s on the writer thread)")
    line("replay from the journal", r, n, "-", f"   (+{opened * 1000:.0f} ms to open)")
    if legacy is not None:
        lc = a.legacy_calls
        line(f"write, a commit per call ({lc:,})", legacy, lc,
             f"{lj.put_seconds:.1f} s", f"   (longest {1000 * lj.worst_put:.1f} ms)")
        scaled = legacy * n / lc
        print(f"{'  scaled to ' + format(n, ',') + ' calls':34}{scaled:9.1f}")
        print()
        print(f"group commit vs a commit per call: {scaled / w:.1f}x faster "
              f"({1000 * legacy / lc:.3f} -> {1000 * w / n:.3f} ms a call)")
    print(f"replay vs writing with group commit: {w / r:.1f}x faster")
    limit = TARGET_S * n / 100_000
    ok = r < limit
    print(f"replay of {n:,} calls: {r:.1f} s, {n / r:,.0f} calls/s; target < {limit:.0f} s: "
          f"{'met' if ok else 'MISSED'} ({limit / r:.1f}x margin)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
