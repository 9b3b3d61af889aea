"""One grammar names a model for tane run / plan / preview (``--llm``) and tane eval
(``--model``, ``--judge``): ``[NAME=]TARGET[,KEY=VALUE...]``. The older ``--llm URL
--model NAME`` still works, and the command line says it is the older spelling."""

from __future__ import annotations

import pytest

from typer.testing import CliRunner

from tane.cli import app
from tane.errors import TaneError
from tane.eval.models import parse_judge, parse_model
from tane.pipeline.overrides import apply_overrides
from tane.recipe import Recipe

RECIPE = {"target": 3, "llm": {"backend": "embedded"},
          "models": {"judge": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                               "model": "big", "timeout": 60}},
          "stages": [{"method": "self_instruct"}]}
URL = "http://127.0.0.1:9/v1"


def _keys(cfg):
    return (cfg.backend, cfg.base_url, cfg.model, cfg.license, cfg.timeout)


def test_run_and_eval_read_one_spec_alike():
    r = Recipe.model_validate(RECIPE)
    spec = f"{URL},model=Qwen/Qwen2.5-7B-Instruct,license=apache-2.0,timeout=30"
    new = apply_overrides(r, [spec]).llm
    old = apply_overrides(r, [URL], ["Qwen/Qwen2.5-7B-Instruct"], ["apache-2.0"], ["30"]).llm
    assert _keys(new) == _keys(old) == ("openai", URL, "Qwen/Qwen2.5-7B-Instruct",
                                        "apache-2.0", 30.0)
    assert _keys(parse_model(f"m={spec}").cfg) == _keys(new)
    assert _keys(parse_judge(spec).cfg) == _keys(new)
    # a named model: the keys the spec does not give keep the recipe's values
    judge = apply_overrides(r, [f"judge={URL},http://127.0.0.1:10/v1,model=small"]
                            ).llm_for("judge")
    assert (judge.base_url, judge.model, judge.timeout) == (
        [URL, "http://127.0.0.1:10/v1"], "small", 60.0)
    assert apply_overrides(r, ["judge=embedded"]).llm_for("judge").backend == "embedded"


@pytest.mark.parametrize(("llm", "says"), [
    ([URL], "needs the model the server serves: --llm URL,model=NAME"),
    ([f"{URL},model=m,style=chat"], "unknown option 'style'"),
    ([f"{URL},model=m,colour=red"], "unknown option 'colour'"),
    ([f"{URL},model=m,timeout=soon"], "timeout='soon' is not a number"),
    (["judge=ftp://h"], "expected 'embedded', a server URL"),
])
def test_bad_specs_are_one_line(llm, says):
    with pytest.raises(TaneError) as e:
        apply_overrides(Recipe.model_validate(RECIPE), llm)
    assert says in e.value.one_line() and "\n" not in e.value.one_line()


def test_the_older_spelling_works_and_says_so(tmp_path):
    # tane plan without measuring: both plan for the served model (whose size tane does
    # not know: its rates are "unknown"), not the recipe's embedded one
    args = ["plan", "quickstart", "--no-measure", "--tokens-per-second", "10", "--json"]
    new = CliRunner().invoke(app, args + ["--llm", f"{URL},model=m1"])
    old = CliRunner().invoke(app, args + ["--llm", URL, "--model", "m1"])
    assert new.exit_code == old.exit_code == 0, new.stderr + old.stderr
    assert "older spelling" not in new.stderr
    assert "--model is the older spelling of --llm URL,model=NAME" in old.stderr
    assert new.stdout == old.stdout and "self_instruct/ja/unknown" in new.stdout


def test_eval_judge_model_is_the_older_spelling(tmp_path):
    # no eval directory there: the judge is read, then the step stops at once (exit 2)
    args = ["eval", "grade", str(tmp_path), "--no-progress", "--judge"]
    new = CliRunner().invoke(app, args + [f"{URL},model=j1"])
    old = CliRunner().invoke(app, args + [URL, "--judge-model", "j1"])
    assert new.exit_code == old.exit_code == 2
    # the console wraps long lines (the temporary path's length varies): compare words
    new_text, old_text = " ".join(new.stderr.split()), " ".join(old.stderr.split())
    assert "judge j1: " in new_text and "judge j1: " in old_text
    assert "older spelling" not in new_text
    assert "--judge-model is the older spelling of --judge URL,model=NAME" in old_text
