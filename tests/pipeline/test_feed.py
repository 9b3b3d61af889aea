"""The feed rule: a record past the target is not answered. `tane run` in a subprocess
against the simulated server (bench/simserver.py, a real HTTP server whose answers are a
function of the request): the records the target does not need are dropped as
over_target before the answer stage, without a call, and a rerun feeds the same ones."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import read_jsonl, read_stats, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

ROWS = 40
CONCURRENCY = 4


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.005, tps=3000.0, tokens_mean=40) as s:
        yield s


def recipe(tmp_path: Path, url: str, target: int, output_min: int) -> Path:
    src = tmp_path / "tasks.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Task number {i}: say something."}) + "\n"
                           for i in range(ROWS)), encoding="utf-8")
    path = tmp_path / f"recipe-{target}-{output_min}.yaml"
    path.write_text(f"""name: feed-check
target: {target}
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: {CONCURRENCY}}}
source: {{path: tasks.jsonl}}
stages:
  - {{method: answer, mode: en, prompt_style: chat, sampling: {{max_tokens: 60}}}}
  - {{method: curate, lang: en, steps: [{{name: length, output_min: {output_min}}}]}}
""", encoding="utf-8")
    return path


def run(path: Path, out: Path) -> dict:
    res = run_tane("run", str(path), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    return read_stats(out)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_rows_past_the_target_are_not_answered(sim, tmp_path):
    # every answer is kept: the target's 3 rows are answered, the other 37 are not
    st = run(recipe(tmp_path, sim.url, 3, 1), tmp_path / "a")
    assert st["kept"] == 3
    answer = st["stages"]["answer"]
    # (no stage passed them on: the answer stage takes them in and drops them uncalled)
    assert answer["llm_calls"] == 3 and answer["kept"] == 3
    assert answer["records_in"] == ROWS and answer["dropped"] == {"over_target": ROWS - 3}
    assert "over_target" not in st["stages"]["curate"]["dropped"]
    drops = [d for d in read_jsonl(tmp_path / "a" / "rejected.jsonl")
             if d["reason"] == "over_target"]
    assert len(drops) == ROWS - 3
    assert all(d["stage"] == "answer" and d["detail"] == {"before": "answer"} for d in drops)
    kept = [r["instruction"] for r in read_jsonl(tmp_path / "a" / "dataset.jsonl")]
    assert kept == [f"Task number {i}: say something." for i in range(3)]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_drops_are_made_up_for_within_a_window_and_a_rerun_feeds_the_same(sim, tmp_path):
    # a length rule that drops some answers: more rows are answered than the target,
    # but no more than the target plus what the server decodes at once
    path = recipe(tmp_path, sim.url, 8, 30)
    st = run(path, tmp_path / "a")
    assert st["kept"] == 8
    answer, curate = st["stages"]["answer"], st["stages"]["curate"]
    short = curate["dropped"].get("length:output_too_short", 0)
    assert short > 0, curate  # the rule really drops some
    answered = answer["llm_calls"]
    assert answered == curate["records_in"] <= 8 + short + CONCURRENCY
    assert answer["dropped"] == {"over_target": ROWS - answered}
    again = run(path, tmp_path / "b")
    for name in ("dataset.jsonl", "rejected.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert again["llm"]["calls"] == st["llm"]["calls"]
