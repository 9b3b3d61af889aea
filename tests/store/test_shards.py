"""Journal shards: a shard's calls are durable in its own file, and absorbing shards into
the run's journal gives one journal, once, with repeated calls still visible."""

from __future__ import annotations

import asyncio
import sqlite3

from tane.store.rundir import RunDir
from tane.store.shards import (ShardJournal, absorb_shards, mark_done, read_done,
                               shard_dir)


def _put(run, sid: str, keys: list[str]) -> None:
    async def go() -> None:
        j = ShardJournal(run, sid)
        try:
            for k in keys:
                await j.put_call_async(k, "chat", {"k": k}, {"text": f"answer {k}"})
                assert await j.get_call_async(k) == {"text": f"answer {k}"}
        finally:
            j.close()
    asyncio.run(go())


def _calls(run) -> dict[str, int]:
    db = sqlite3.connect(run / "run.sqlite")
    try:
        return dict(db.execute("SELECT key, puts FROM calls"))
    finally:
        db.close()


def test_absorb_moves_calls_once_and_keeps_repeats_visible(tmp_path):
    run = tmp_path / "run"
    with RunDir(run) as rd:
        rd.put_call("k0", "chat", {"k": "k0"}, {"text": "main"})
    _put(run, "s1", ["k1", "k2"])
    _put(run, "s2", ["k0", "k3"])  # k0 is already in the main journal: a repeated call
    mark_done(run, "s1", {"items": []})
    with RunDir(run) as rd:
        assert absorb_shards(rd.db, run, finished_only=True) == 2  # s1 only
        assert sorted(p.name for p in shard_dir(run).iterdir()) == ["s1.done.json",
                                                                     "s2.sqlite"]
        assert absorb_shards(rd.db, run) == 2
        assert absorb_shards(rd.db, run) == 0  # nothing left, nothing counted twice
    assert _calls(run) == {"k0": 2, "k1": 1, "k2": 1, "k3": 1}
    assert read_done(run, "s1") == {"items": []} and read_done(run, "s2") is None


def test_a_shard_made_again_after_absorbing_is_absorbed_again(tmp_path):
    run = tmp_path / "run"
    RunDir(run).close()
    _put(run, "s1", ["a"])
    with RunDir(run) as rd:
        absorb_shards(rd.db, run)
    _put(run, "s1", ["b"])  # the same shard id, a new file
    with RunDir(run) as rd:
        assert absorb_shards(rd.db, run) == 1
    assert _calls(run) == {"a": 1, "b": 1}


def test_a_shard_reads_the_run_journal_when_it_misses(tmp_path):
    run = tmp_path / "run"
    with RunDir(run) as rd:
        rd.put_call("old", "chat", {}, {"text": "from the run"})

    async def go() -> dict | None:
        j = ShardJournal(run, "s9")
        try:
            return await j.get_call_async("old")
        finally:
            j.close()

    assert asyncio.run(go()) == {"text": "from the run"}
