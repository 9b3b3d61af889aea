"""`tane eval run --limit N`: the first N items, over the plan's ``limit:``; no model is
needed to see it (the items are written before the first call, and the server here is a
bound port that listens to nothing, so the step stops with exit 4 at once)."""

from __future__ import annotations

import json
import socket

import pytest

from helpers import run_tane


@pytest.fixture
def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def _plan(tmp_path, url, limit_line=""):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "instruction": f"質問 {i}",
                                         "output": f"答え {i}"}, ensure_ascii=False) + "\n"
                             for i in range(5)), encoding="utf-8")
    plan = tmp_path / "eval.yaml"
    plan.write_text(f"bench: bench.jsonl\nformat: tane_run\nout: ev\n{limit_line}"
                    f"models:\n  m: {{backend: openai, base_url: '{url}', model: x, "
                    "license: apache-2.0, max_retries: 0, timeout: 5}\nreport: false\n",
                    encoding="utf-8")
    return plan


def _items(tmp_path):
    return [json.loads(x)["id"] for x in
            (tmp_path / "ev" / "items.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("limit_line, args, want", [
    ("", ["--limit", "2"], ["q0", "q1"]),
    ("limit: 4\n", ["--limit", "2"], ["q0", "q1"]),   # the option over the plan
    ("limit: 4\n", [], ["q0", "q1", "q2", "q3"]),     # the plan's limit:
    ("", [], ["q0", "q1", "q2", "q3", "q4"]),
])
def test_limit(tmp_path, dead_url, limit_line, args, want):
    plan = _plan(tmp_path, dead_url, limit_line)
    res = run_tane("eval", "run", str(plan), "--no-progress", *args, timeout=120)
    assert res.returncode == 4, res.stderr  # the server: nothing answers
    assert f"(tane_run, en, {len(want)} items)" in " ".join(res.stderr.split())
    assert _items(tmp_path) == want


def test_limit_below_one_is_refused(tmp_path, dead_url):
    res = run_tane("eval", "run", str(_plan(tmp_path, dead_url)), "--limit", "0")
    assert res.returncode == 2
    assert res.stderr.strip() == "error: field 'limit': --limit must be at least 1"
    assert not (tmp_path / "ev").exists()
