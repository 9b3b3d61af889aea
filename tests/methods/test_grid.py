"""Requirement grid: cells, weights and counts, fair filling, prompt assembly with a seeded
RNG, validation errors through the CLI; end to end on the embedded models (completion in
Japanese, chat in English with snippets) with provenance, coverage and drop reasons."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import read_jsonl, read_stats, run_tane

from tane.config.grid import GridStage
from tane.errors import TaneError
from tane.methods.base import StageContext, StageStats
from tane.methods.grid import Candidate, Grid, clean_question
from tane.methods.grid_spec import Fill, has_code, prose
from tane.recipe import load_recipe
from tane.report.coverage import grid_coverage
from tane.schema import Provenance, Record
from tane.store.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"

AXES = {"task": {"explain": {"description": "コードの説明を求める質問",
                             "details": ["関数名を示す"]},
                 "fix": {"description": "誤りのあるコードの修正を求める質問", "weight": 2},
                 "write": "コードを書いてもらう質問"},
        "theme": {"mean": "平均と分散", "test": "仮説検定",
                  "regression": {"description": "回帰分析", "details": ["最小二乗法"],
                                 "weight": 0.5}}}
CONV = {"coding": ["型ヒントを必ず付ける"], "answer_format": ["結論を最初に書く"]}
CODE_Q = "次のコードを直してください。\n```python\nprint(1\n```"
SHOTS = [{"match": "task=fix", "examples": [{"id": "fx", "question": CODE_Q,
                                              "answer": "括弧を閉じます。\n```python\nprint(1)\n```"}]},
         {"match": "write/mean", "examples": [{"id": "wm", "question": "平均を返す関数を書いてください。",
                                               "answer": "```python\ndef m(x): ...\n```"}]},
         {"match": "*", "examples": [{"id": "any", "question": "p値とは何ですか。",
                                      "answer": "結論: 帰無仮説の下での確率です。"}]}]


def stage(**kw) -> GridStage:
    return GridStage.model_validate({"method": "grid", "axes": AXES} | kw)


def make(seed: int = 0, base_dir: Path | None = None, **kw) -> Grid:
    ctx = StageContext("grid", None, StageStats("grid"), [], seed, base_dir)  # type: ignore[arg-type]
    return Grid(stage(**kw), ctx)


# -- cells, weights, counts -------------------------------------------------------------

def test_cells_weights_and_counts():
    g = stage(count=2, counts={"fix/regression": 5, "task=write": 1, "write/test": 0})
    cells = g.cells()
    assert [c.key for c in cells][:4] == ["explain/mean", "explain/test", "explain/regression",
                                          "fix/mean"]
    assert len(cells) == 9 and cells[3].axes(g.axis_names) == {"task": "fix", "theme": "mean"}
    q = {c.key: g.quota(c) for c in cells}
    assert q["explain/mean"] == 2                 # default count
    assert q["explain/regression"] == 1           # 2 x 0.5
    assert q["fix/mean"] == 4                     # 2 x weight 2
    assert q["fix/regression"] == 5               # override beats the weight (2 x 2 x 0.5)
    assert q["write/mean"] == 1 and q["write/test"] == 0   # the most specific pattern wins
    # named and positional patterns select the same cells
    a, b = g.parse_pattern("theme=test"), g.parse_pattern("*/test")
    assert a == b == (None, "test")
    assert [c.key for c in cells if g.matches(a, c)] == ["explain/test", "fix/test", "write/test"]


def test_three_axes_and_list_shorthand():
    g = GridStage.model_validate({"method": "grid", "axes": {"a": ["x", "y"], "b": ["p"],
                                                             "c": ["1", "2", "3"]}})
    assert len(g.cells()) == 6 and g.cells()[-1].key == "y/p/3"
    with pytest.raises(ValueError, match="3 axes"):
        g.parse_pattern("x/p")


@pytest.mark.parametrize("kw, field, msg", [
    ({"counts": {"fix/regresion": 1}}, "counts.fix/regresion", "no value 'regresion'"),
    ({"counts": {"level=hard": 1}}, "counts.level=hard", "unknown axis 'level'"),
    ({"few_shots": [{"match": "fix", "examples": [{"question": "q", "answer": "a"}]}]},
     "few_shots.0.match", "has 1 part"),
    ({"count": 0}, "count", "requests no records"),
    ({"axes": {"task": {"a/b": None}}}, "axes.task.a/b", "must not contain"),
])
def test_validation_errors_name_the_field(kw, field, msg):
    with pytest.raises(ValueError) as e:
        stage(**kw)
    err = e.value.errors()[0]
    assert ".".join(str(x) for x in err["loc"]) == field and msg in err["msg"]


# -- fair filling ---------------------------------------------------------------------

def test_allocation_is_fair_by_weight_and_stops_at_full_cells():
    f = Fill([4, 2, 2, 0], max_attempts=4)
    picks = f.allocate(8, random.Random(1))
    assert sorted(picks) == [0, 0, 0, 0, 1, 1, 2, 2]   # exactly the deficits, cell 3 never
    # a smaller batch goes to the least filled cells first (fill ratio, weights in quota)
    f.kept = [2, 0, 2, 0]
    assert sorted(f.allocate(2, random.Random(1))) == [0, 1]   # 2/4 and 0/2 below 2/2
    f.kept = [4, 2, 2, 0]
    assert f.allocate(8, random.Random(1)) == []               # everything full
    # attempts: a cell that keeps failing gives up after quota x max_attempts prompts
    g = Fill([1, 1], max_attempts=2, attempts=[2, 0])
    assert g.allocate(4, random.Random(0)) == [1]
    # seeded: the same rng gives the same order of equally filled cells
    h = Fill([1] * 6, max_attempts=1)
    assert h.allocate(3, random.Random(5)) == h.allocate(3, random.Random(5))
    assert {tuple(h.allocate(3, random.Random(s))) for s in range(10)} != {(0, 1, 2)}


def test_choose_keeps_the_least_filled_cells():
    f = Fill([2, 2, 2], max_attempts=4, kept=[1, 0, 0])
    assert f.choose([0, 1, 1, 2], 2) == {1, 3}          # cells 1 and 2 before half-full 0
    assert f.choose([0, 1], 5) == {0, 1}


# -- prompts ----------------------------------------------------------------------------

def test_question_prompt_has_requirements_and_no_code_or_conventions():
    g = make(seed=3, conventions=CONV, few_shots=SHOTS, num_question_examples=3)
    fix_test = [c.key for c in g.cells].index("fix/test")
    text, ids, snip = g.question_prompt(0, 0, fix_test)
    assert "誤りのあるコードの修正を求める質問" in text and "仮説検定" in text
    assert not has_code(text) and "print(1" not in text      # the fix example is not shown
    assert "型ヒント" not in text and "結論を最初に" not in text  # conventions: answers only
    assert snip is None and "fx" not in ids and set(ids) <= {"wm", "any"}
    assert text.rstrip().endswith("### 質問:")
    # seeded: the same round/position gives the same prompt, on a fresh stage too
    assert make(seed=3, conventions=CONV, few_shots=SHOTS,
                num_question_examples=3).question_prompt(0, 0, fix_test)[0] == text
    # the cell's own code-free example comes last, right before the question asked
    wm = [c.key for c in g.cells].index("write/mean")
    t2, ids2, _ = g.question_prompt(1, 0, wm)
    assert ids2[-1] == "wm" and t2.index("平均を返す関数") > t2.index("p値とは")
    assert "### 条件: コードを書いてもらう質問／平均と分散\n### 質問:" in t2


def test_answer_prompt_has_conventions_and_cell_examples():
    g = make(seed=3, conventions=CONV, few_shots=SHOTS, num_examples=2)
    keys = [c.key for c in g.cells]
    c = Candidate(keys.index("fix/mean"), "このコードの誤りは何ですか。", 1, [], None)
    text, ids = g.answer_prompt(c, "grid-x")
    assert "型ヒントを必ず付ける" in text and "結論を最初に書く" in text
    assert ids == ["fx", "any"]                      # most specific first
    assert text.index("print(1") < text.index("p値とは") < text.index(c.question)
    assert text.rstrip().endswith("### 回答:")
    # a cell with fewer pairs borrows others' (or not)
    c2 = Candidate(keys.index("explain/test"), "質問", 1, [], None)
    assert len(g.answer_prompt(c2, "grid-y")[1]) == 2
    g2 = make(seed=3, conventions=CONV, few_shots=SHOTS, num_examples=2, borrow_examples=False)
    assert g2.answer_prompt(c2, "grid-y")[1] == ["any"]


@pytest.mark.parametrize("scope", ["cell", "run"])
def test_novelty_index_holds_few_shots_and_requirements(scope):
    g = make(few_shots=SHOTS, novelty={"scope": scope})
    keys = [c.key for c in g.cells]
    et = keys.index("explain/test")
    # a few-shot question of another cell (shown in question prompts) is no new question
    res = g._index(et).check("平均を返す関数を書いてください。")
    assert not res.keep and res.top[0][0] == "fewshot:wm"
    # nor is the cell's requirement text echoed back
    res = g._index(et).check("コードの説明を求める質問（関数名を示す）／仮説検定")
    assert not res.keep and res.top[0][0] == "requirements:explain/test"
    assert g._index(et).check("t検定で等分散を仮定しないのはどんなときですか。").keep
    assert len(g.indexes) == (len(keys) if scope == "cell" else 1)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("style", ["completion", "chat"])
def test_templates_per_language_and_style(lang, style, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.py").write_text("def area(r):\n    return 3.14 * r * r\n")
    g = make(mode=lang, prompt_style=style, conventions=CONV, few_shots=SHOTS,
             base_dir=tmp_path)
    assert g.tpl_question.id.startswith(f"grid/{lang}_question_{style}.j2@")
    assert g.tpl_answer.id.startswith(f"grid/{lang}_answer_{style}.j2@")
    text = g.question_prompt(0, 0, 0)[0]
    assert "コードの説明を求める質問" in text and not has_code(text)
    wrapped = g._wrap(text)
    assert (wrapped == text) if style == "completion" else (
        wrapped == [{"role": "user", "content": text}])
    s = make(mode=lang, prompt_style=style, snippets={"path": "s"}, base_dir=tmp_path)
    assert s.tpl_question.id.startswith(f"grid/{lang}_question_snippet_{style}.j2@")
    st, _, snip = s.question_prompt(0, 0, 0)
    assert snip.id == "a.py" and snip.lang == "python" and "return 3.14 * r * r" in st


def test_snippet_rotation_uses_every_snippet(tmp_path):
    d = tmp_path / "snips"
    d.mkdir()
    for i in range(3):
        (d / f"s{i}.py").write_text(f"x = {i}\n")
    (d / "notes.txt").write_text("not code")
    g = make(snippets={"path": "snips", "glob": "*.py"}, base_dir=tmp_path, count=2)
    seen = []
    for j in range(6):
        seen.append(g.question_prompt(0, j, 0)[2].id)
        g.sent += 1
    assert sorted(seen) == ["s0.py", "s0.py", "s1.py", "s1.py", "s2.py", "s2.py"]
    jl = tmp_path / "snips.jsonl"
    jl.write_text('{"id": "a", "code": "print(1)"}\n\n{"code": "y = 2", "path": "b.py"}\n')
    g2 = make(snippets={"path": "snips.jsonl", "max_chars": 50}, base_dir=tmp_path)
    assert sorted(s.id for s in g2.snippets) == ["a", "snips.jsonl:3"]


def test_helpers_clean_and_prose():
    assert clean_question("質問： 平均とは？") == "平均とは？"
    assert clean_question("Question: What is a mean?") == "What is a mean?"
    assert prose("説明します。\n```python\nimport numpy\n```\n`np.var` は分散です。").split() == [
        "説明します。", "は分散です。"]


# -- validation through the CLI ---------------------------------------------------------

def _recipe(tmp_path: Path, stage_extra: str) -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text("name: t\nstages:\n  - method: grid\n    axes:\n      task: [explain, fix]\n"
                 "      theme: [mean, regression]\n" + stage_extra, encoding="utf-8")
    return p


def _fails(tmp_path: Path, recipe: Path) -> str:
    res = run_tane("run", str(recipe), "--out", str(tmp_path / "out"), "--no-progress",
                   timeout=120)
    assert res.returncode == 2, res.stderr
    assert not (tmp_path / "out").exists()          # nothing touched
    return " ".join(res.stderr.split())


def test_cli_unknown_cell_in_counts(tmp_path):
    r = _recipe(tmp_path, "    counts:\n      fix/mean: 2\n      fix/regresion: 3\n")
    err = _fails(tmp_path, r)
    assert f"{r}:9:" in err and "stages.0.counts.fix/regresion" in err and "regresion" in err


def test_cli_unknown_axis_in_few_shot_match(tmp_path):
    r = _recipe(tmp_path, "    few_shots:\n      - match: \"level=easy\"\n"
                          "        examples: [{question: q, answer: a}]\n")
    err = _fails(tmp_path, r)
    assert f"{r}:8:" in err and "stages.0.few_shots.0.match" in err and "'level'" in err


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_cli_few_shot_file_errors(tmp_path):
    r = _recipe(tmp_path, "    few_shots:\n      - {match: \"task=fix\", file: shots.yaml}\n")
    err = _fails(tmp_path, r)
    assert "shots.yaml" in err and "stages.0.few_shots.0.file" in err and "not found" in err
    (tmp_path / "shots.yaml").write_text("- question: 直して\n  answer: はい\n"
                                         "- question: もう一つ\n", encoding="utf-8")
    err = _fails(tmp_path, r)
    assert f"{tmp_path / 'shots.yaml'}:3:" in err and "example 2: 'answer'" in err
    assert "stages.0.few_shots.0.file" in err
    (tmp_path / "shots.yaml").write_text("- question: [unclosed\n", encoding="utf-8")
    assert "invalid YAML" in _fails(tmp_path, r)
    r2 = _recipe(tmp_path, "    few_shots:\n      - {match: \"*\", file: shots.jsonl}\n")
    (tmp_path / "shots.jsonl").write_text('{"question": "q", "answer": "a"}\n{"question": \n',
                                          encoding="utf-8")
    err = _fails(tmp_path, r2)
    assert f"{tmp_path / 'shots.jsonl'}:2:" in err and "invalid JSON" in err


def test_cli_snippet_folder_missing(tmp_path):
    r = _recipe(tmp_path, "    snippets: {path: nowhere}\n")
    err = _fails(tmp_path, r)
    assert "nowhere" in err and "stages.0.snippets.path" in err


def test_bundled_recipes_load():
    for name, n_cells, total in (("grid_ja.yaml", 9, 11), ("oss_instruct_ja.yaml", 3, 6)):
        rec = load_recipe(RECIPES / name)
        g = rec.stages[0]
        assert len(g.cells()) == n_cells and sum(g.quota(c) for c in g.cells()) == total
        assert rec.target == total
        ctx = StageContext("grid", None, StageStats("grid"), [], 0, RECIPES)  # type: ignore
        grid = Grid(g, ctx)
        assert grid.shots and (name != "oss_instruct_ja.yaml" or len(grid.snippets) >= 3)


def test_bad_template_override_is_rejected():
    with pytest.raises(TaneError, match="no template of this name"):
        make(templates={"ja_generate": "x.j2"})


# -- coverage from a run directory without a model ------------------------------------

def test_coverage_counts_kept_and_drops_per_cell(tmp_path):
    recipe = {"stages": [{"method": "grid", "axes": {"task": ["a", "b"]}, "count": 2}]}
    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": recipe}))
    rows = [{"id": "1", "provenance": {"method": "grid", "cell": "a", "axes": {"task": "a"}}}]
    rejected = [{"stage": "grid", "reason": "near_duplicate", "detail": {"cell": "b"}},
                {"stage": "grid", "reason": "over_target", "detail": {"cell": "a"}},
                {"stage": "curate", "reason": "length", "record_id": "zz", "detail": {}}]
    cov = grid_coverage(rows, rejected, tmp_path)
    assert cov["requested"] == 4 and cov["kept"] == 1 and cov["cells_full"] == 0
    by = {c["cell"]: c for c in cov["cells"]}
    assert by["a"]["short"] == 1 and by["a"]["drop_reasons"] == {"over_target": 1}
    assert by["b"]["kept"] == 0 and by["b"]["drop_reasons"] == {"near_duplicate": 1}
    assert cov["unattributed_drops"] == {"length": 1}
    assert cov["by_axis"]["task"]["a"] == {"requested": 2, "kept": 1, "dropped": 1}
    assert grid_coverage([{"id": "x", "provenance": {"method": "self_instruct"}}], [],
                         None) is None


def test_coverage_traces_later_drops_through_the_ledger(tmp_path):
    recipe = {"stages": [{"method": "grid", "axes": {"task": ["a", "b"]}},
                         {"method": "curate", "steps": [{"name": "length"}]}]}
    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": recipe}))
    rd = RunDir(tmp_path)
    rd.log_kept("grid", [Record(id="grid-1", instruction="q", output="a",
                                provenance=Provenance(method="grid", cell="b"))])
    rd.close()
    rejected = [{"stage": "curate", "reason": "length", "record_id": "grid-1", "detail": {}}]
    cov = grid_coverage([], rejected, tmp_path)
    by = {c["cell"]: c for c in cov["cells"]}
    assert by["b"]["drop_reasons"] == {"length": 1} and cov["unattributed_drops"] == {}
    assert cov["kept"] == 0 and cov["requested"] == 2


# -- end to end on the embedded models --------------------------------------------------

E2E_JA = """\
name: grid-e2e
seed: 4
target: 2
stages:
  - method: grid
    mode: ja
    prompt_style: completion
    axes:
      task:
        explain: Pythonの関数の働きを説明してもらう質問
        write: 目的を示してPythonのコードを書いてもらう質問
      theme:
        mean: 平均と分散
        regression: 回帰分析
    conventions:
      coding: [関数には型ヒントを付ける]
      answer_format: [最初に結論を一文で書く]
    few_shots:
      - match: write/mean
        examples:
          - {id: w1, question: 数値のリストを受け取り、標本平均を返す関数をPythonで書いてください。,
             answer: "結論: 合計を個数で割ります。"}
      - match: "task=explain"
        examples:
          - {id: e1, question: numpy.var の ddof=1 は何を意味しますか。,
             answer: "結論: 不偏分散を求める指定で、n-1 で割ります。"}
    request_batch_size: 4
    max_rounds: 2
    question_sampling: {max_tokens: 64}
    answer_sampling: {max_tokens: 96, frequency_penalty: 0.5}
"""

GRID_REASONS = {"copies_snippet", "copies_question", "copies_fewshot", "echoes_requirements",
                "truncated_question", "empty_question", "off_language", "near_duplicate",
                "over_target", "truncated_answer", "empty_answer"}


def _accounted(out: Path) -> tuple[dict, list[dict], list[dict]]:
    st = read_stats(out)
    s = st["stages"]["grid"]
    assert s["items_in"] == s["kept"] + sum(s["dropped"].values())
    rows, drops = read_jsonl(out / "dataset.jsonl"), read_jsonl(out / "rejected.jsonl")
    assert len(drops) == sum(s["dropped"].values())
    return st, rows, drops


@pytest.mark.slow
def test_grid_e2e_ja_completion_provenance_coverage_drops(tmp_path):
    recipe = tmp_path / "grid.yaml"
    recipe.write_text(E2E_JA, encoding="utf-8")
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    _st, rows, drops = _accounted(out)
    cells = {"explain/mean", "explain/regression", "write/mean", "write/regression"}
    assert rows, "the embedded model kept nothing"
    assert len(rows) <= 2 and len({r["provenance"]["cell"] for r in rows}) == len(rows)
    for r in rows:
        p = r["provenance"]
        assert p["method"] == "grid" and p["cell"] in cells and r["output"]
        assert p["cell"] == f"{p['axes']['task']}/{p['axes']['theme']}"
        assert p["template"].startswith("grid/ja_question_completion.j2@")
        assert p["answer_template"].startswith("grid/ja_answer_completion.j2@")
        assert isinstance(p["sampling"]["seed"], int) and p["answer_sampling"]["max_tokens"] == 96
        assert p["model"] and p["novelty"]["scope"] == "cell"
        assert set(p["fewshot_ids"]) <= {"w1", "e1"} and p["snippet"] is None
    assert drops, "a 4-cell round for a target of 2 drops something"
    for d in drops:
        assert d["stage"] == "grid" and d["detail"]["cell"] in cells
        assert d["reason"] in GRID_REASONS or d["reason"].startswith("llm_error:"), d
    # coverage: tane stats prints it and writes it into report.json
    res = run_tane("stats", str(out), "--no-charts")
    assert res.returncode == 0, res.stderr
    assert "grid coverage" in res.stdout
    cov = json.loads((out / "stats" / "report.json").read_text(encoding="utf-8"))["grid_coverage"]
    assert cov["requested"] == 4 and cov["kept"] == len(rows)
    by = {c["cell"]: c for c in cov["cells"]}
    assert set(by) == cells
    for cell, c in by.items():
        assert c["requested"] == 1
        assert c["kept"] == sum(r["provenance"]["cell"] == cell for r in rows)
        assert c["dropped"] == sum(d["detail"]["cell"] == cell for d in drops)
    assert sum(c["dropped"] for c in by.values()) == len(drops)


E2E_EN = """\
name: oss-e2e
seed: 2
target: 2
stages:
  - method: grid
    mode: en
    prompt_style: chat
    snippets: {path: snips, glob: "*.py"}
    axes:
      task:
        explain: a question asking what a short Python function does
        write: a question asking for a short Python function
    conventions:
      coding: [Use type hints.]
      answer_format: [Start with a one-sentence summary.]
    few_shots:
      - match: "*"
        examples:
          - {id: x1, question: "What does len() return for a list?", answer: The number of items.}
    novelty: {scope: run}
    request_batch_size: 2
    max_rounds: 4  # the copy checks may drop an answer of the 135M model: room to ask again
    question_sampling: {max_tokens: 80}
    answer_sampling: {max_tokens: 160}
"""


@pytest.mark.slow
def test_oss_instruct_e2e_en_chat_snippet_provenance(tmp_path):
    (tmp_path / "snips").mkdir()
    (tmp_path / "snips" / "area.py").write_text("def area(r):\n    return 3.14159 * r * r\n")
    (tmp_path / "snips" / "greet.py").write_text("def greet(name):\n    return 'Hi ' + name\n")
    recipe = tmp_path / "oss.yaml"
    recipe.write_text(E2E_EN, encoding="utf-8")
    out = tmp_path / "run"
    res = run_tane("run", str(recipe), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    st, rows, drops = _accounted(out)
    assert st["stages"]["grid"]["items_in"] >= 2
    for r in rows:
        p = r["provenance"]
        assert p["cell"] in ("explain", "write") and p["prompt_style"] == "chat"
        assert p["template"].startswith("grid/en_question_snippet_chat.j2@")
        assert p["snippet"]["id"] in ("area.py", "greet.py") and len(p["snippet"]["sha256"]) == 16
        assert p["model"] != "" and p["novelty"]["scope"] == "run"
    for d in drops:
        assert d["detail"]["cell"] in ("explain", "write")
        assert d["detail"]["snippet"] in ("area.py", "greet.py")
        assert d["reason"] in GRID_REASONS or d["reason"].startswith("llm_error:"), d
        if d["reason"] == "copies_snippet":
            assert d["detail"]["rouge_l"] > 0.7
    # the first round asks one question per cell, each inspired by a different snippet
    first = [r["provenance"]["snippet"]["id"] for r in rows if r["provenance"]["round"] == 0]
    first += [d["detail"]["snippet"] for d in drops if d["detail"]["round"] == 0]
    assert sorted(first) == ["area.py", "greet.py"]
