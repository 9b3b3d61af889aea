"""What ``tane run`` prints while it works when stderr is no terminal (a pipe, a log file):
a plain progress line every few seconds, the endpoints' warnings before the first stage,
and the rows the source refused in the summary.

The served model is bench/simserver.py (a real HTTP server on port 0 with a fixed latency,
no model), which lists only the model ``sim``: a recipe naming another one draws the
"lists no model" warning."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from helpers import read_jsonl, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

LINE = re.compile(r"^kept \d+/2 · round \d+ · \d+s · ETA \S+ · self_instruct: in \d+, "
                  r"kept \d+, dropped \d+, in flight \d+, calls \d+$")


@pytest.fixture(scope="module")
def piped(tmp_path_factory):
    """One run of about 10 s (the server's latency) with stdout and stderr piped."""
    tmp = tmp_path_factory.mktemp("piped")
    with SimServer.start(streams=2, ttft=1.0, tps=40.0, tokens_mean=60) as sim:
        recipe = tmp / "r.yaml"
        recipe.write_text(f"""\
target: 2
llm: {{backend: openai, base_url: {sim.url}, model: not-served, concurrency: 2}}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 4, request_batch_size: 2}}
""", encoding="utf-8")
        res = run_tane("run", str(recipe), "--out", str(tmp / "run"))
    assert res.returncode == 0, res.stderr
    return res


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_piped_run_prints_a_plain_progress_line_every_few_seconds(piped):
    lines = piped.stderr.splitlines()
    progress = [ln for ln in lines if ln.startswith("kept ")]
    assert progress, piped.stderr
    for ln in progress:  # one plain line each: no table, no redrawing
        assert LINE.match(ln), ln
    assert not re.search(r"[\x1b\r┏┃│━─]", piped.stderr), piped.stderr


def test_the_endpoint_warning_comes_before_the_first_stage_and_once(piped):
    lines = piped.stderr.splitlines()
    warned = [i for i, ln in enumerate(lines) if "lists no model 'not-served'" in ln]
    assert len(warned) == 1, piped.stderr
    assert lines[warned[0]].startswith("warning: ")
    first = next(i for i, ln in enumerate(lines) if ln.startswith("kept "))
    assert warned[0] < first, piped.stderr


def test_source_drops_are_in_the_summary_and_stats(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"instruction": "日本の首都はどこですか。", "output": "東京です。"},
        {"prompt": "instruction のない行"},
        {"instruction": "長すぎる答え", "output": "あ" * 100_001},
    ]) + "\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: src\nsource: {path: in.jsonl}\nstages:\n  - method: curate\n"
                      "    lang: ja\n    steps: [{name: length}]\n", encoding="utf-8")
    res = run_tane("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress")
    assert res.returncode == 0, res.stderr
    summary = " ".join(res.stdout.split())  # the table may wrap its caption
    assert "source drops: missing_field 1, too_long 1" in summary, res.stdout
    stats = json.loads((tmp_path / "run" / "stats.json").read_text(encoding="utf-8"))
    assert stats["source"]["drops"] == {"missing_field": 1, "too_long": 1}
    reasons = sorted(d["reason"] for d in read_jsonl(tmp_path / "run" / "rejected.jsonl"))
    assert reasons == ["missing_field", "too_long"]
