"""``tane eval`` end to end with real models: the embedded models answer the bundled
samples; a real llama.cpp server answers, grades and compares; a grading step killed
with SIGKILL resumes without repeating a completed call; failed calls are rows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from faultproxy import FaultProxy
from helpers import ROOT, journal_count, max_puts, read_jsonl, run_tane, tane_cmd

pytestmark = pytest.mark.slow


def meta(ev) -> dict:
    return json.loads((ev / "eval.json").read_text(encoding="utf-8"))


def test_embedded_models_answer_the_bundled_samples(tmp_path):
    ev = tmp_path / "en"
    args = ("eval", "answer", "bundled:alpaca_eval_en", "--model", "smol=embedded",
            "-o", str(ev), "--limit", "2", "--max-tokens", "16", "--no-progress")
    res = run_tane(*args)
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(ev / "answers.jsonl")
    assert [(r["item_id"], r["model"]) for r in rows] == [("1", "smol"), ("2", "smol")]
    assert all(r["turns"][0].strip() and r["error"] is None and r["chars"] > 0 for r in rows)
    m = meta(ev)
    assert m["format"] == "alpaca_eval" and m["items"] == 2
    assert "SmolLM2" in m["models"]["smol"]["model"]
    assert m["models"]["smol"]["license"] == "apache-2.0"
    assert m["steps"]["answer"]["calls"] == 2
    before = (ev / "answers.jsonl").read_bytes()
    again = run_tane(*args)
    assert again.returncode == 0
    assert (meta(ev)["steps"]["answer"]["calls"], meta(ev)["steps"]["answer"]["cache_hits"]) \
        == (0, 2)
    assert (ev / "answers.jsonl").read_bytes() == before
    # the base model, in completion style, answers both turns of a Japanese MT-Bench item
    ja = tmp_path / "ja"
    res = run_tane("eval", "answer", "bundled:mt_bench_ja", "--model",
                   "gemma=embedded,style=completion", "-o", str(ja), "--limit", "1",
                   "--max-tokens", "16", "--no-progress")
    assert res.returncode == 0, res.stderr
    (row,) = read_jsonl(ja / "answers.jsonl")
    assert len(row["turns"]) == 2 and all(t.strip() for t in row["turns"])
    assert meta(ja)["models"]["gemma"] | {"where": ""} == {
        "where": "", "model": "google/gemma-3-270m (Q4_K_M GGUF)", "license": "gemma",
        "style": "completion"}


@pytest.fixture(scope="module")
def answered(llama_server, tmp_path_factory):
    """Two names for the served model (sampled, so they answer differently) answer two
    two-turn items."""
    ev = tmp_path_factory.mktemp("answered") / "ev"
    res = run_tane("eval", "answer", "bundled:mt_bench_ja", "-o", str(ev), "--limit", "2",
                   "--model", f"a={llama_server},model=gemma,style=completion",
                   "--model", f"b={llama_server},model=gemma,style=completion",
                   "--temperature", "0.8", "--max-tokens", "24", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert journal_count(ev) == 8
    return ev


def copy(ev, tmp_path):
    dst = tmp_path / "ev"
    shutil.copytree(ev, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def grade_args(ev, url, *more):
    return ("eval", "grade", str(ev), "--judge", url, "--judge-model", "gemma",
            "--max-tokens", "64", "--no-progress", *more)


def test_grading_killed_mid_way_resumes_without_repeating_a_call(answered, llama_server,
                                                                  tmp_path):
    ev = copy(answered, tmp_path)
    base = journal_count(ev)
    env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(tane_cmd(*grade_args(ev, llama_server)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=ROOT)
    deadline = time.monotonic() + 300
    while journal_count(ev) < base + 3:
        assert proc.poll() is None, "grading ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = journal_count(ev) - base
    assert not (ev / "grades.jsonl").exists()

    res = run_tane(*grade_args(ev, llama_server))
    assert res.returncode == 0, res.stderr
    total = journal_count(ev) - base
    assert 0 < done < total
    step = meta(ev)["steps"]["grade"]
    assert step["cache_hits"] == done  # every completed call replayed ...
    assert step["calls"] == total - done  # ... and only the rest made
    assert max_puts(ev) == 1, "a completed call was stored twice"
    assert step["constrained"] is True and step["scale"] == 10  # MT-Bench: 1-10
    rows = read_jsonl(ev / "grades.jsonl")
    assert sorted((r["item_id"], r["model"], r["turn"]) for r in rows) == \
        [(str(i), m, t) for i in (1, 2) for m in "ab" for t in (1, 2)]
    for r in rows:
        assert r["judge"] == "gemma" and r["status"] in ("ok", "parse_failed")
        assert (r["score"] is not None) == (r["status"] == "ok")
        assert r["score"] is None or 1 <= r["score"] <= 10
    assert sum(r["status"] == "ok" for r in rows) >= 4  # the schema holds the output
    assert meta(ev)["steps"]["grade"]["by_judge"]["gemma"]["parse_failed"] == \
        sum(r["status"] == "parse_failed" for r in rows)

    before = (ev / "grades.jsonl").read_bytes()
    again = run_tane(*grade_args(ev, llama_server))
    assert again.returncode == 0
    assert meta(ev)["steps"]["grade"]["calls"] == 0
    assert (ev / "grades.jsonl").read_bytes() == before  # the files come from the journal


def test_compare_in_both_orders_against_the_real_server(answered, llama_server, tmp_path):
    ev = copy(answered, tmp_path)
    res = run_tane("eval", "compare", str(ev), "--a", "a", "--b", "b", "--judge",
                   llama_server, "--judge-model", "gemma", "--levels", "5",
                   "--max-tokens", "64", "--no-progress")
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(ev / "comparisons.jsonl")
    assert [r["item_id"] for r in rows] == ["1", "2"]
    assert journal_count(ev) - 8 >= 4  # two orders per item
    for r in rows:
        assert (r["a"], r["b"], r["judge"], r["levels"]) == ("a", "b", "gemma", 5)
        if r["status"] != "ok":
            assert r["final"] is None
            continue
        assert r["ab"] in ("a", "b", "tie") and r["ba"] in ("a", "b", "tie")
        assert r["consistent"] == (r["ab"] == r["ba"])
        assert r["final"] == (r["ab"] if r["consistent"] else "tie")
        assert -2 <= r["ab_level"] <= 2 and -2 <= r["ba_level"] <= 2
        assert r["len_a"] > 0 and r["len_b"] > 0


def test_failed_judge_calls_are_rows_and_set_the_exit_code(answered, llama_server, tmp_path):
    ev = copy(answered, tmp_path)
    upstream = llama_server.removesuffix("/v1")
    # every grade call refused (after the check): exit 4, each row says why
    with FaultProxy(upstream, ["ok"] + ["400"] * 100) as proxy:
        res = run_tane(*grade_args(ev, proxy.url + "/v1", "--models", "a"))
    assert res.returncode == 4, res.stderr
    assert "every grade call failed" in res.stderr
    rows = read_jsonl(ev / "grades.jsonl")
    assert len(rows) == 4 and all(r["status"] == "error" and "http_400" in r["error"]
                                  for r in rows)
    # one call refused: exit 3; a rerun makes only that call
    with FaultProxy(upstream, ["ok", "400"]) as proxy:
        res = run_tane(*grade_args(ev, proxy.url + "/v1", "--models", "a"))
    assert res.returncode == 3, res.stderr
    assert "incomplete:" in res.stderr
    assert sum(r["status"] == "error" for r in read_jsonl(ev / "grades.jsonl")) == 1
    res = run_tane(*grade_args(ev, llama_server, "--models", "a"))
    assert res.returncode == 0, res.stderr
    step = meta(ev)["steps"]["grade"]
    assert (step["calls"], step["cache_hits"], step["error"]) == (1, 3, 0)


def test_one_plan_file_runs_every_step(llama_server, tmp_path):
    plan = tmp_path / "eval.yaml"
    plan.write_text(f"""\
bench: bundled:elyza_ja
out: ev
limit: 1
models:
  a: {{base_url: {llama_server}, model: gemma, style: completion}}
  b: {{base_url: {llama_server}, model: gemma, style: completion}}
judges:
  g: {{base_url: {llama_server}, model: gemma}}
answer: {{max_tokens: 16, temperature: 0.8}}
grade: {{max_tokens: 64, logprobs: 5}}
compare:
  - {{a: a, b: b, max_tokens: 64}}
report: {{ja_min: 0.99, difficulty: difficulty.jsonl}}
""", encoding="utf-8")
    (tmp_path / "difficulty.jsonl").write_text('{"item_id": "1", "difficulty": 0.5}\n',
                                               encoding="utf-8")
    res = run_tane("eval", "run", str(plan), "--no-progress")
    assert res.returncode == 0, res.stderr
    ev = tmp_path / "ev"
    rep = json.loads((ev / "report" / "report.json").read_text(encoding="utf-8"))
    # the plan's report: options reach the report as --ja-min and --difficulty would
    assert rep["language"]["ja_min"] == 0.99 and rep["language"]["scored_as_failures"]
    assert rep["difficulty_table"] == str(tmp_path / "difficulty.jsonl")
    assert all("expected_score" in r for r in read_jsonl(ev / "grades.jsonl"))
    calls = journal_count(ev)
    assert calls >= 2 + 2 + 2  # answers, grades, both orders (+ any verdict asked again)
    assert {r["model"] for r in read_jsonl(ev / "grades.jsonl")} == {"a", "b"}
    (cmp,) = read_jsonl(ev / "comparisons.jsonl")
    assert (cmp["a"], cmp["b"], cmp["judge"]) == ("a", "b", "g")
    m = meta(ev)
    assert set(m["steps"]) == {"answer", "grade", "compare"} and set(m["judges"]) == {"g"}
    again = run_tane("eval", "run", str(plan), "--no-progress")
    assert again.returncode == 0 and journal_count(ev) == calls
    assert "0 calls, 2 from the journal" in again.stdout  # answers and verdicts replayed
