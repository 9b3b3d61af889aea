"""The feed rule in a chain that starts with a transform and ends with an ordered curate
step: `tane run` in a subprocess against the simulated server (bench/simserver.py). An
evolution keeps its parent and adds a child, exact_dup compares each record with the ones
kept before it; under a target, only the rows the target needs are evolved and answered,
no answered record is dropped as over_target, and a rerun writes the same files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import read_jsonl, read_stats, run_tane

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

ROWS = 12
TARGET = 2


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.005, tps=3000.0, tokens_mean=40) as s:
        yield s


def recipe(tmp_path: Path, url: str) -> Path:
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps({"id": f"q{i}", "instruction": f"質問{i}: 何か答えてください。"},
                                      ensure_ascii=False) + "\n" for i in range(ROWS)),
                   encoding="utf-8")
    path = tmp_path / "recipe.yaml"
    path.write_text(f"""name: feed-chain
seed: 5
target: {TARGET}
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: 4}}
source: {{path: rows.jsonl}}
stages:
  - {{method: evol_instruct, mode: ja, prompt_style: completion, epochs: 1,
     sampling: {{max_tokens: 96}}}}
  - {{method: answer, mode: ja, prompt_style: chat, sampling: {{max_tokens: 64}}}}
  - {{method: curate, lang: ja, steps: [{{name: exact_dup}}, {{name: meta_text}}]}}
""", encoding="utf-8")
    return path


def run(path: Path, out: Path) -> dict:
    res = run_tane("run", str(path), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    return read_stats(out)


@pytest.fixture(scope="module")
def runs(sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feed-chain")
    path = recipe(tmp, sim.url)
    return tmp, run(path, tmp / "a"), run(path, tmp / "b")


def test_only_what_the_target_needs_is_evolved_and_answered(runs):
    tmp, st, _ = runs
    assert st["kept"] == TARGET
    evol, answer, curate = (st["stages"][n] for n in ("evol_instruct", "answer", "curate"))
    drops = [d for d in read_jsonl(tmp / "a" / "rejected.jsonl") if d["reason"] == "over_target"]
    before = [d["detail"]["before"] for d in drops]
    # rows past what the target needs are not evolved (each evolved one keeps its parent
    # and adds a child), and records past it are not answered
    evolved = ROWS - before.count("evol_instruct")
    assert 1 <= evolved <= TARGET and evol["records_in"] == ROWS, evol
    assert answer["llm_calls"] == curate["records_in"] == TARGET, (answer, curate)
    assert before.count("answer") == 2 * evolved - TARGET
    assert all(d["stage"] == "evol_instruct" for d in drops)
    # no record that was answered is thrown away for the target
    assert "over_target" not in curate["dropped"], curate
    assert "over_target" not in answer["dropped"], answer


def test_a_rerun_feeds_the_same_records(runs):
    tmp, st, again = runs
    for name in ("dataset.jsonl", "rejected.jsonl"):
        assert (tmp / "a" / name).read_bytes() == (tmp / "b" / name).read_bytes()
    assert again["llm"]["calls"] == st["llm"]["calls"]
