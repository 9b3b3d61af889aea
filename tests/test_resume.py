"""Kill a real run with SIGKILL mid-way, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from helpers import DATA, ROOT, journal_count, max_puts, read_stats, run_tane, tane_cmd

pytestmark = pytest.mark.slow
RECIPE = str(DATA / "small_ja.yaml")


def test_sigkill_then_resume_repeats_no_call_and_gives_the_same_dataset(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    ref = run_tane("run", RECIPE, "--out", str(whole), "--no-progress")
    assert ref.returncode == 0, ref.stderr
    ref_stats = read_stats(whole)
    total_calls = ref_stats["llm"]["calls"]
    assert ref_stats["kept"] == 4 and total_calls >= 8

    env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(tane_cmd("run", RECIPE, "--out", str(killed), "--no-progress"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    stop_at = total_calls // 2
    deadline = time.monotonic() + 600
    while journal_count(killed) < stop_at:
        assert proc.poll() is None, "run ended before it could be killed"
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
    # every call completed before the kill is answered from the journal ...
    assert st["llm"]["cache_hits"] == done_before
    # ... and only the rest reach the model
    assert st["llm"]["calls"] == total_calls - done_before
    assert max_puts(killed) == 1, "a completed call was stored twice"
    assert (killed / "dataset.jsonl").read_bytes() == (whole / "dataset.jsonl").read_bytes()
    assert (killed / "rejected.jsonl").read_bytes() == (whole / "rejected.jsonl").read_bytes()

    # a third run over a finished directory makes no call at all
    again = run_tane("run", RECIPE, "--out", str(killed), "--no-progress")
    assert again.returncode == 0
    assert read_stats(killed)["llm"]["calls"] == 0
    assert (killed / "dataset.jsonl").read_bytes() == (whole / "dataset.jsonl").read_bytes()
