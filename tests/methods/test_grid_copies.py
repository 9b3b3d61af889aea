"""The grid drops an answer that copies its question or a few-shot answer shown in its
prompt, and asks its cell again; grid_ja.yaml ends with a curate stage.

A model that copies cannot be made to on demand, so the round runs on
``ScriptedBackend`` (tests/fakes.py, a mock: no model) with fixed questions and answers;
the few-shot pairs are the bundled ones (recipes/grid/)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fakes import ScriptedBackend
from tane.config.grid import GridStage
from tane.methods.base import StageContext, StageStats
from tane.methods.grid import Grid
from tane.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

QUESTIONS = {
    "same": "数値のリストから中央値を求める関数をPythonで書いてください。",
    "paste": "測定値のばらつきを確かめたいので、平均と分散を返す処理を作ってほしい。",
    "own": "リストの標本平均と不偏分散を numpy で求める関数を書いてください。",
}
PASTED = """結論: 次の関数で求められます。

```python
def mean_and_variance(values: list[float]) -> tuple[float, float]:
    \"\"\"標本平均と不偏分散を返す。\"\"\"
    n = len(values)
    if n < 2:
        raise ValueError("2つ以上の値が必要です")
    mean = sum(values) / n
    variance = sum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, variance


def report(values: list[float]) -> str:
    \"\"\"測定値の要約を一行の文字列にする。\"\"\"
    m, v = mean_and_variance(values)
    return f"件数 {len(values)} 件、平均 {m:.3f}、不偏分散 {v:.3f}"


print(report([12.1, 11.8, 12.4, 12.0]))
```

測定値が毎回少しずつ違うときは、まず平均で中心の位置を、次に分散で散らばりの大きさを
確かめます。報告には件数も添えると、読む人が結果の確からしさを判断しやすくなります。

ポイント: 件数が少ないときは分散の推定が不安定なので、結果の解釈に注意します。"""
OWN = """結論: numpy の mean と var(ddof=1) を使います。

```python
import numpy as np


def mean_and_variance(values: list[float]) -> tuple[float, float]:
    \"\"\"標本平均と不偏分散を返す。\"\"\"
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.var(ddof=1))
```

ポイント: ddof=1 で n-1 で割る不偏分散になります。"""
ANSWERS = {"same": QUESTIONS["same"], "paste": PASTED, "own": OWN}


def grid(llm) -> Grid:
    cfg = GridStage.model_validate({
        "method": "grid", "mode": "ja",
        "axes": {"task": {k: f"{k}の質問" for k in QUESTIONS}},
        "few_shots": [{"match": "*", "file": "grid/fewshot_write_ja.yaml"}],
        "num_examples": 1, "num_question_examples": 0, "request_batch_size": 3,
        "check_language": False})
    return Grid(cfg, StageContext("grid", llm, StageStats("grid"), [], 0, RECIPES))


def reply(kind, prompt, params) -> str:
    """Questions by the cell named in the prompt's requirements; answers by the question."""
    head, _, last = prompt.rpartition("### 質問:")
    if not last.strip():
        return next(q for k, q in QUESTIONS.items() if f"{k}の質問" in head)
    return next(ANSWERS[k] for k, q in QUESTIONS.items() if q in last)


def test_copies_of_the_question_and_of_few_shot_code_are_dropped_and_asked_again():
    g = grid(ScriptedBackend(reply))
    batch = asyncio.run(g.round(0, 3))
    assert [r.instruction for r in batch.records] == [QUESTIONS["own"]]
    drops = {d.detail["cell"]: d for d in batch.drops}
    assert set(drops) == {"same", "paste"}
    same, paste = drops["same"], drops["paste"]
    assert same.reason == "copies_question" and same.detail["equal"] is True
    assert paste.reason == "copies_fewshot" and paste.detail["fewshot"] == "write-mean"
    assert paste.detail["code_lines"] == paste.detail["fewshot_code_lines"] == 8
    assert paste.detail["first"].startswith("def mean_and_variance(")
    assert paste.detail["answer"].startswith("結論: 次の関数で")
    # the cells whose answers were copies are still open: the next round asks them again
    assert g.fill.kept == [0, 0, 1]
    again = asyncio.run(g.round(1, 2))
    asked = {d.detail["cell"] for d in again.drops} | {
        r.provenance.cell for r in again.records}
    assert asked == {"same", "paste"}


def test_copy_check_can_be_turned_off_and_thresholds_apply():
    g = grid(None)
    shots = g.shots
    assert g.copies.check(PASTED, QUESTIONS["paste"], shots)[0] == "copies_fewshot"
    assert g.copies.check(OWN, QUESTIONS["own"], shots) is None
    # a few-shot answer given back whole (text, not only its code)
    got = g.copies.check(shots[0].answer, QUESTIONS["own"], shots)
    assert got[0] == "copies_fewshot" and got[1]["rouge_l"] > 0.7
    # a near copy of the question, not equal
    got = g.copies.check(QUESTIONS["same"] + "よろしく", QUESTIONS["same"], shots)
    assert got[0] == "copies_question" and got[1]["rouge_l"] > 0.8
    off = grid(None)
    off.copies.cfg = off.cfg.copies.model_copy(update={"check": False})
    assert off.copies.check(PASTED, QUESTIONS["paste"], shots) is None


def test_bundled_few_shot_pairs_are_not_copies_of_each_other():
    rec = load_recipe(RECIPES / "grid_ja.yaml")
    g = Grid(rec.stages[0], StageContext("grid", None, StageStats("grid"), [], 0, RECIPES))
    assert len(g.shots) >= 3
    for s in g.shots:
        assert g.copies.check(s.answer, s.question, [x for x in g.shots if x is not s]) is None


def test_grid_ja_recipe_curates_what_the_grid_keeps():
    rec = load_recipe(RECIPES / "grid_ja.yaml")
    assert [s.method for s in rec.stages] == ["grid", "curate"]
    names = [s.name for s in rec.stages[1].steps]
    for step in ("copies", "restates_question", "repetition", "truncated", "exact_dup"):
        assert step in names
