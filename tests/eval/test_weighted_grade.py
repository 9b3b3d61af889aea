"""``tane eval grade --logprobs`` against the real llama.cpp server: the probability-weighted
grade beside the plain one in the rows and the report, the same on a replay, and said
missing when the server returns no logprobs (FaultProxy, tests/faultproxy.py, strips them
from the real server's answers: a server that ignores the parameter)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from faultproxy import FaultProxy
from helpers import read_jsonl, run_tane

from tane.eval.weighted import grade_position, label_of

pytestmark = pytest.mark.slow


def journal(ev) -> list[dict]:
    con = sqlite3.connect(ev / "run.sqlite")
    try:
        return [json.loads(r[0]) for r in
                con.execute("SELECT response FROM calls WHERE kind='chat'")]
    finally:
        con.close()


def test_grade_with_logprobs_against_the_real_server(llama_server, tmp_path):
    ev = tmp_path / "ev"
    res = run_tane("eval", "answer", "bundled:elyza_ja", "-o", str(ev), "--limit", "1",
                   "--model", f"a={llama_server},model=gemma,style=completion",
                   "--max-tokens", "12", "--no-progress")
    assert res.returncode == 0, res.stderr
    grade = ("eval", "grade", str(ev), "--judge", llama_server, "--judge-model", "gemma",
             "--max-tokens", "64", "--logprobs", "10", "--no-progress")
    res = run_tane(*grade)
    assert res.returncode == 0, res.stderr
    rows = read_jsonl(ev / "grades.jsonl")
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok, rows
    for r in ok:
        assert 1 <= r["expected_score"] <= 5 and 0 < r["label_mass"] <= 1
    # consistent with the grade token: greedy under the schema picks the likeliest label,
    # and the expectation lies between the labels among the alternatives
    for resp in journal(ev):
        toks = resp["logprobs"]
        i = grade_position(toks)
        labels = {label_of(t): lp for t, lp in toks[i]["top"] if label_of(t)}
        assert label_of(toks[i]["token"]) == max(labels, key=labels.get)
        row = next(r for r in ok if r["raw"] == resp["text"])
        assert row["score"] == label_of(toks[i]["token"])
        assert min(labels) <= row["expected_score"] <= max(labels)

    before = (ev / "grades.jsonl").read_bytes()
    again = run_tane(*grade)  # replayed from the journal, logprobs included
    assert again.returncode == 0, again.stderr
    assert json.loads((ev / "eval.json").read_text())["steps"]["grade"]["calls"] == 0
    assert (ev / "grades.jsonl").read_bytes() == before

    with FaultProxy(llama_server.removesuffix("/v1"), ["nologprobs"] * 4) as proxy:
        res = run_tane("eval", "grade", str(ev), "--judge", proxy.url + "/v1",
                       "--judge-model", "gemma", "--judge-name", "deaf", "--max-tokens", "64",
                       "--logprobs", "10", "--no-progress")
    assert res.returncode == 0, res.stderr
    deaf = [r for r in read_jsonl(ev / "grades.jsonl") if r["judge"] == "deaf"]
    assert deaf and all(r["expected_score"] is None for r in deaf)
    assert {r["expected_missing"] for r in deaf if r["status"] == "ok"} <= {"no_logprobs"}

    res = run_tane("eval", "report", str(ev))
    assert res.returncode == 0, res.stderr
    rep = json.loads((ev / "report" / "report.json").read_text())
    by = {g["judge"]: g["models"]["a"] for g in rep["scores"]}
    e = by["gemma"]["expected"]
    assert e["n"] == by["gemma"]["n"] and e["without"] == 0
    assert e["mean"] == pytest.approx(sum(r["expected_score"] for r in ok) / len(ok))
    assert by["deaf"]["expected"]["missing"].get("no_logprobs", 0) >= 1
    md = (ev / "report" / "report.md").read_text()
    assert "Probability-weighted grade" in md and "the server returned no logprobs" in md
    if all(r["status"] == "ok" for r in deaf):
        assert any("asked for logprobs and the server returned none" in w
                   for w in rep["warnings"])
        assert "server returned none" in res.stderr
