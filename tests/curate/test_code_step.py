"""The ``code`` curate step: answers' code run by the real interpreters (Python, R, sh)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import yaml

from typer.testing import CliRunner

from tane.cli import app
from tane.curate.stage import build_steps, run_batch
from tane.curate.steps import Fields, make_step
from tane.curate.steps.code import cell_matches, code_blocks
from tane.errors import TaneError
from tane.methods.base import StageContext, StageStats
from tane.methods.curate import CurateStage
from tane.recipe import CurateStage as CurateConfig
from tane.schema import Provenance, Record

HAS_R = shutil.which("Rscript") is not None
needs_r = pytest.mark.skipif(not HAS_R, reason="Rscript not installed (Debian: r-base-core)")
WRITE = {"cell": "write/mean_variance", "axes": {"task": "write", "theme": "mean_variance"}}
FIX = {"cell": "fix/regression", "axes": {"task": "fix", "theme": "regression"}}


def rec(output, inst="q", inp="", prov=None):
    return Fields(instruction=inst, input=inp, output=output, provenance=prov or {})


def judge(records, **params):
    params.setdefault("timeout_s", 1.5)
    step = make_step("code", "ja", **params)
    return [None if r is None else (r[0], r[1]) for r in run_batch([step], records)]


def fenced(lang, code):
    return f"説明です。\n```{lang}\n{code}\n```\n以上です。"


def test_blocks_by_language_and_cell_patterns():
    text = "a\n```Python\nx = 1\n```\nb\n```r\ny <- 2\n```\n```\nplain\n```\n```py\nz\n```"
    assert code_blocks(text) == [("python", "x = 1\n"), ("r", "y <- 2\n"), ("", "plain\n"),
                                 ("python", "z\n")]
    assert code_blocks("```python\nnot closed") == []
    assert cell_matches("task=write", WRITE) and cell_matches("write/*", WRITE)
    assert cell_matches("*", {}) and not cell_matches("task=fix", WRITE)
    assert not cell_matches("write/*", {}) and not cell_matches("write", WRITE)


def test_python_that_works_is_kept_and_what_fails_says_why():
    ok = rec(fenced("python", "import statistics\nprint(statistics.variance([1, 2, 3, 4]))"))
    two = rec(fenced("python", "def f(x):\n    return x * 2") + "\n" +
              fenced("py", "assert f(2) == 4"))  # blocks of one language are one program
    syntax = rec(fenced("python", "print('unclosed'"))
    error = rec(fenced("python", "values = []\nprint(sum(values) / len(values))"))
    loop = rec(fenced("python", "while True:\n    pass"))
    res = judge([ok, two, syntax, error, loop], timeout_s=1.0)
    assert res[0] is None and res[1] is None
    assert res[2][0] == "code:syntax" and "SyntaxError" in res[2][1]["stderr"]
    assert res[3][0] == "code:error"
    assert res[3][1]["stderr"].splitlines()[-1] == "ZeroDivisionError: division by zero"
    assert res[4][0] == "code:timeout" and res[4][1]["limit_s"] == 1.0


def test_what_the_sandbox_refuses_is_in_the_drop_detail(tmp_path):
    sock = rec(fenced("python", "import socket\nsocket.create_connection(('1.1.1.1', 80), 0.5)"))
    journal = rec(fenced("python", "print(open('../run.sqlite').read())"))
    bomb = rec(fenced("python", "import os\nwhile True:\n    os.fork()"))
    big = rec(fenced("python", "x = bytearray(10 * 1024**3)"))
    (tmp_path / "run.sqlite").write_text("journal")
    res = judge([sock, journal, bomb, big], temp_dir=str(tmp_path))
    assert [res[i][0] for i in (0, 2, 3)] == ["code:error"] * 3
    d = {i: res[i][1] for i in (0, 2, 3)}
    if d[0]["sandbox"]["network"].startswith("isolated"):
        assert "Network is unreachable" in d[0]["stderr"]
    if d[0]["sandbox"]["tmp"].startswith("private"):
        assert res[1][0] == "code:error"
        assert "No such file or directory: '../run.sqlite'" in res[1][1]["stderr"]
    else:  # /tmp shared (an interpreter under /tmp): the parent can be read, as documented
        assert res[1] is None, res[1]
    assert "BlockingIOError" in d[2]["stderr"] and "MemoryError" in d[3]["stderr"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.sqlite"]


@needs_r
def test_r_that_works_is_kept_and_what_fails_says_why():
    ok = rec(fenced("r", "x <- c(2, 4, 4, 5)\ncat(mean(x), var(x), sd(x), '\\n')\n"
                         "print(t.test(x, mu = 3)$p.value)"), prov=WRITE)
    wrong = rec(fenced("R", "x <- c(1, 2, 3, 4, 6)\nprint(mean(x))"), prov=WRITE)
    syntax = rec(fenced("r", "fit <- lm(y ~ x,"))
    error = rec(fenced("r", "fit <- lm(y ~ x, data = df_missing)"))
    res = judge([ok, wrong, syntax, error], timeout_s=5, tests=[
        {"match": "write/mean_variance", "lang": "r",
         "code": "stopifnot(abs(mean(x) - 3.75) < 1e-9)"}])
    assert res[0] is None
    assert res[1][0] == "code:test_failed" and "is not TRUE" in res[1][1]["stderr"]
    assert res[2][0] == "code:syntax" and "unexpected end of input" in res[2][1]["stderr"]
    assert res[3][0] == "code:error" and "df_missing" in res[3][1]["stderr"]


def test_no_code_where_required_and_code_in_other_languages():
    prose = "コードはありません。"
    res = judge([rec(prose, prov=WRITE), rec(prose, prov=FIX), rec(prose),
                 rec(fenced("text", "not run")), rec(fenced("", "print(1/0)"))],
                require=["task=write"])
    assert [r and r[0] for r in res] == ["code:no_code", None, None, None, None]
    # untagged blocks run when told their language
    assert judge([rec(fenced("", "print(1/0)"))], untagged="python")[0][0] == "code:error"


def test_fix_cells_compare_with_the_broken_code():
    broken = ("```python\ndef mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"
              "print(mean([1, 2]))\n```")
    fixed = fenced("python", "def mean(xs):\n    return sum(xs) / len(xs)\nprint(mean([1, 2]))")
    same = fenced("python", "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n"
                            "print(mean([1, 2]))")
    res = judge([rec(fixed, inst="直してください。\n" + broken, prov=FIX),
                 rec(same, inst="直してください。\n" + broken, prov=FIX)])
    assert res[0] is None and res[1][0] == "code:unchanged"
    # the broken code runs without an error (a wrong result): not broken, when asked
    res = judge([rec(fixed, inp=broken, prov=FIX)], fix_must_fail=True)
    assert res[0][0] == "code:not_broken"


def test_a_command_for_another_interpreter():
    res = judge([rec(fenced("sh", "echo fine")), rec(fenced("sh", "echo bad >&2; exit 3"))],
                languages=[], commands={"sh": "sh {file}"})
    assert res[0] is None
    assert res[1][0] == "code:error" and res[1][1]["stderr"] == "bad" and res[1][1]["exit"] == 3


def test_bad_parameters_are_one_error_naming_the_field():
    with pytest.raises(TaneError) as e:
        build_steps("ja", [{"name": "length"}, {"name": "code", "timeout_s": 0}])
    assert e.value.field == "steps.1.timeout_s"
    with pytest.raises(TaneError) as e:
        build_steps("ja", [{"name": "code", "tests": [{"match": "*", "cod": "x"}]}])
    assert e.value.field.startswith("steps.0.tests.0")
    step = make_step("code", "ja", rscript="no-such-Rscript")
    with pytest.raises(TaneError, match="'no-such-Rscript' not found; install R"):
        step.check(rec(fenced("r", "print(1)")))
    step = make_step("code", "ja", languages=["cobol"])
    with pytest.raises(TaneError, match="no interpreter for 'cobol'"):
        step.check(rec(fenced("cobol", "DISPLAY 'X'.")))


def test_tane_curate_writes_code_drops_with_their_reasons(tmp_path):
    rows = [{"id": 1, "instruction": "q", "output": fenced("python", "print(sum([1, 2]))")},
            {"id": 2, "instruction": "q", "output": fenced("python", "print(undefined_name)")}]
    src, out, cfg = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "c.yaml"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg.write_text("lang: ja\nsteps:\n  - {name: code, timeout_s: 2}\n")
    res = CliRunner().invoke(app, ["curate", str(src), "--recipe", str(cfg), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [1]
    dropped = [json.loads(x) for x in (tmp_path / "out.rejected.jsonl").read_text().splitlines()]
    assert [d["_drop"]["reason"] for d in dropped] == ["code:error"]
    assert "NameError" in dropped[0]["_drop"]["detail"]["stderr"]


@needs_r
def test_the_shipped_r_few_shot_answers_run():
    path = Path(__file__).resolve().parents[2] / "recipes" / "grid" / "fewshot_r_ja.yaml"
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    res = judge([rec(i["answer"], inst=i["question"], prov=FIX if "fix" in i["id"] else WRITE)
                 for i in items], languages=["r"], require=True, timeout_s=10)
    assert res == [None] * len(items)


def test_the_recipe_stage_runs_it_off_the_event_loop_and_drops_with_cells():
    cfg = CurateConfig.model_validate({"method": "curate", "lang": "ja", "steps": [
        {"name": "code", "require": ["task=write"], "timeout_s": 2}]})
    stage = CurateStage(cfg, StageContext("curate", None, StageStats("curate"), [], 0))

    def record(i, out):
        return Record(id=f"r{i}", instruction="平均を求めるコードを書いてください。",
                      output=out,
                      provenance=Provenance(method="grid", **WRITE))

    async def go():
        ticks = 0

        async def ticker():  # the loop keeps turning while the programs run
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        t = asyncio.create_task(ticker())
        batch = await stage.process([record(0, fenced("python", "print(sum([1, 2]) / 2)")),
                                     record(1, fenced("python", "import time; time.sleep(0.3); x")),
                                     record(2, "コードなし")])
        t.cancel()
        return batch, ticks
    batch, ticks = asyncio.run(go())
    assert [r.id for r in batch.records] == ["r0"]
    assert {d.record_id: d.reason for d in batch.drops} == {"r1": "code:error",
                                                            "r2": "code:no_code"}
    assert "NameError" in batch.drops[0].detail["stderr"]
    assert batch.drops[0].detail["record"]["output"].startswith("説明です。")
    assert ticks >= 10
