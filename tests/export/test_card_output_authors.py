"""The dataset card says which model wrote each output: the answer stage's model, the
model that made the record with its output, or a person in review; and a recipe whose
answer stage did not write some outputs says so in the card's warnings."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_tane

from tane.store.rundir import RunDir


def _rec(i: int, answered: bool) -> dict:
    prov = {"method": "self_instruct", "model": "gemma-base", "license": "gemma",
            "backend": "openai", "seed_ids": ["s1"], "is_classification": not answered}
    if answered:
        prov["steps"] = [{"stage": "answer", "method": "answer", "model": "gemma-it",
                          "license": "gemma", "backend": "openai"}]
    return {"id": f"r{i}", "instruction": f"質問{i}に答えてください。", "input": "",
            "output": f"答え{i}です。", "provenance": prov}


def _run(d: Path, recs: list[dict], stages: list[dict]) -> Path:
    d.mkdir()
    (d / "dataset.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in recs), encoding="utf-8")
    (d / "rejected.jsonl").write_text("", encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({
        "status": "complete", "recipe": {"name": "two-models", "stages": stages}}),
        encoding="utf-8")
    RunDir(d).close()
    return d


def _card(tmp_path: Path, run: Path) -> str:
    out = tmp_path / "out"
    res = run_tane("export", str(run), "-f", "alpaca", "--to", str(out / "data.jsonl"))
    assert res.returncode == 0, res.stderr
    return (out / "README.md").read_text(encoding="utf-8")


def _section(card: str) -> list[str]:
    part = card.split("## Who wrote the outputs\n", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in part.splitlines() if ln.startswith("| ") and "---" not in ln][1:]


def test_the_card_names_the_model_of_each_output_and_warns_of_skipped_answers(tmp_path):
    stages = [{"method": "self_instruct", "mode": "ja", "instances": "input_only"},
              {"method": "answer", "mode": "ja"}]
    run = _run(tmp_path / "run", [_rec(0, True), _rec(1, False), _rec(2, True)], stages)
    card = _card(tmp_path, run)
    assert _section(card) == ["| gemma-it | `answer` | answered by this stage | 2 |",
                              "| gemma-base | `self_instruct` | written with the instruction | 1 |"]
    warnings = card.split("## Warnings\n", 1)[1]
    assert ("1 of 3 outputs were written by gemma-base (`self_instruct`), not by the answer "
            "stage") in warnings


def test_every_output_from_the_answer_stage_gives_no_warning(tmp_path):
    stages = [{"method": "self_instruct", "instances": "input_only"}, {"method": "answer"}]
    run = _run(tmp_path / "run", [_rec(0, True), _rec(1, True)], stages)
    card = _card(tmp_path, run)
    assert _section(card) == ["| gemma-it | `answer` | answered by this stage | 2 |"]
    assert "not by the answer stage" not in card
