"""`tane run` over the real OpenAI-compatible HTTP path: a llama.cpp server on 127.0.0.1,
reached directly and through the fault proxy (500/429/503 and dropped connections)."""

from __future__ import annotations

import pytest

from faultproxy import FaultProxy
from helpers import answer_few_ja, read_jsonl, read_stats, run_tane

pytestmark = pytest.mark.slow


def _run(recipe, url: str, out, *extra: str):
    res = run_tane("run", str(recipe), "--out", str(out), "--llm", url, "--model",
                   "gemma-3-270m", "--target", "2", "--no-progress", *extra)
    assert res.returncode == 0, res.stderr
    return read_stats(out)


def test_run_against_a_server_through_faults(llama_server, tmp_path):
    # short questions and answers: the faults are the point, not the text (answers of up
    # to 48 tokens: a cut one is a drop, and six questions leave room for two). Five faults
    # and six retries a call: whichever calls they hit, none fails for good
    recipe = answer_few_ja(tmp_path, "llm: {max_retries: 6}\n", max_tokens=48)
    # the first request is the check of the endpoint before the first stage; every fault
    # comes before the first good answer, so all five are met however many calls are made
    schedule = ["ok", "500", "429", "drop", "503", "drop"]
    with FaultProxy(llama_server.removesuffix("/v1"), schedule) as proxy:
        st = _run(recipe, proxy.url + "/v1", tmp_path / "run")
        assert proxy.counts["ok"] >= st["llm"]["calls"]
    assert st["kept"] == 2
    # every injected fault was retried, counted by its reason, and nothing failed for good
    assert st["llm"]["retries"] == {"http_500": 1, "http_429": 1, "connection": 2,
                                    "http_503": 1}
    assert st["llm"]["failures"] == {}
    rows = read_jsonl(tmp_path / "run" / "dataset.jsonl")
    assert len(rows) == 2
    step = rows[0]["provenance"]["steps"][0]
    assert step["backend"] == "openai" and step["model"] == "gemma-3-270m"
    # a rerun against the bare server replays every call from the journal
    again = _run(recipe, llama_server, tmp_path / "run")
    assert again["llm"]["calls"] == 0 and again["llm"]["cache_hits"] == st["llm"]["calls"]


def test_a_call_that_keeps_failing_is_a_recorded_drop(llama_server, tmp_path):
    # one call at a time makes the schedule below deterministic; short questions and
    # answers keep that serial run short
    recipe = answer_few_ja(tmp_path, "llm: {max_retries: 1, concurrency: 1}\n")
    # after the endpoint's check, the first call and its retry get a 500 and it fails for
    # good; the next record's call and its retry too; the third record is answered
    with FaultProxy(llama_server.removesuffix("/v1"), ["ok"] + ["500"] * 4) as proxy:
        res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--llm",
                       proxy.url + "/v1", "--model", "gemma-3-270m", "--target", "1",
                       "--no-progress")
    assert res.returncode == 0, res.stderr
    st = read_stats(tmp_path / "run")
    assert st["llm"]["retries"] == {"http_500": 2}
    assert st["llm"]["failures"] == {"http_500": 2}
    assert st["stages"]["answer"]["dropped"]["llm_error:http_500"] == 2
    drops = read_jsonl(tmp_path / "run" / "rejected.jsonl")
    assert [d["reason"] for d in drops].count("llm_error:http_500") == 2
    assert st["kept"] == 1
