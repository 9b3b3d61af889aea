"""End to end on the real embedded model: a run's files, then SIGKILL and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from helpers import (DATA, ROOT, journal_count, max_puts, read_jsonl, read_stats, run_tane,
                     tane_cmd)

pytestmark = pytest.mark.slow
RECIPE = str(DATA / "small_ja.yaml")


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """One uninterrupted run of the small Japanese recipe."""
    out = tmp_path_factory.mktemp("whole")
    res = run_tane("run", RECIPE, "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    return out


def test_run_writes_dataset_stats_and_drops(whole):
    raw = (whole / "dataset.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in raw, "JSON must be written as UTF-8 text, not \\u escapes"
    rows = read_jsonl(whole / "dataset.jsonl")
    assert len(rows) == 4
    for row in rows:
        assert set(row) == {"id", "instruction", "input", "output", "provenance"}
        assert row["instruction"].strip() and row["output"].strip()
        prov = row["provenance"]
        assert prov["method"] == "self_instruct"
        assert prov["model"].startswith("google/gemma-3-270m") and prov["license"] == "gemma"
        assert prov["backend"] == "embedded"
        assert prov["seed_ids"] and all(s.startswith("ja-") for s in prov["seed_ids"])
        assert {"temperature", "top_p", "max_tokens", "seed"} <= set(prov["sampling"])
        assert prov["max_rouge_l"] <= 0.7
        assert prov["most_similar"], "the most similar seeds/instructions are kept"
        assert prov["most_similar"][0]["rouge_l"] == prov["max_rouge_l"]
        assert prov["novelty"]["tokenizer"] in ("morph", "char")
        assert [s["stage"] for s in prov["steps"]] in ([], ["answer"])
    assert len({r["id"] for r in rows}) == 4

    st = read_stats(whole)
    assert st["kept"] == 4 and st["target"] == 4
    for name in ("self_instruct", "answer"):
        s = st["stages"][name]
        assert {"items_in", "kept", "dropped", "llm_calls", "cache_hits", "prompt_tokens",
                "completion_tokens", "wall_seconds", "tokens_per_second"} <= set(s)
    si = st["stages"]["self_instruct"]
    assert si["items_in"] == si["kept"] + sum(si["dropped"].values())
    assert st["llm"]["calls"] > 0 and st["llm"]["completion_tokens"] > 0
    assert st["llm"]["cache_hits"] == 0

    drops = read_jsonl(whole / "rejected.jsonl")
    total_drops = sum(sum(s["dropped"].values()) for s in st["stages"].values())
    assert len(drops) == total_drops
    assert all(d["reason"] and d["stage"] for d in drops)


def test_sigkill_then_resume_repeats_no_call_and_gives_the_same_dataset(whole, tmp_path):
    killed = tmp_path / "killed"
    total_calls = read_stats(whole)["llm"]["calls"]
    env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(tane_cmd("run", RECIPE, "--out", str(killed), "--no-progress"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=ROOT)
    deadline = time.monotonic() + 600
    while journal_count(killed) < total_calls // 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = journal_count(killed)
    assert 0 < done_before < total_calls
    assert not (killed / "dataset.jsonl").exists()

    res = run_tane("run", RECIPE, "--out", str(killed), "--no-progress")
    assert res.returncode == 0, res.stderr
    st = read_stats(killed)
    assert st["llm"]["cache_hits"] == done_before  # every completed call replayed ...
    assert st["llm"]["calls"] == total_calls - done_before  # ... and only the rest made
    assert max_puts(killed) == 1, "a completed call was stored twice"
    assert (killed / "dataset.jsonl").read_bytes() == (whole / "dataset.jsonl").read_bytes()
    assert (killed / "rejected.jsonl").read_bytes() == (whole / "rejected.jsonl").read_bytes()

    again = run_tane("run", RECIPE, "--out", str(killed), "--no-progress")
    assert again.returncode == 0
    assert read_stats(killed)["llm"]["calls"] == 0
    assert (killed / "dataset.jsonl").read_bytes() == (whole / "dataset.jsonl").read_bytes()
