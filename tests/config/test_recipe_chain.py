"""The stage contract at recipe load: chains that cannot work, named models, source:,
and the one registry every list of methods derives from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tane.config.curate import ORDERED_STEPS
from tane.config.registry import METHODS, generators
from tane.curate.steps import STEPS
from tane.errors import TaneError
from tane.recipe import load_recipe
from tane.pipeline.overrides import apply_overrides

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "recipe.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def error_of(path: Path) -> TaneError:
    with pytest.raises(TaneError) as info:
        load_recipe(path)
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


JUDGE_FIRST = """\
target: 3
stages:
  - method: self_instruct
    instances: input_only
  - method: judge
    min_quality: 3
  - method: answer
"""


def test_judge_before_any_answer_is_refused_at_its_line(tmp_path):
    p = write(tmp_path, JUDGE_FIRST)
    e = error_of(p)
    assert e.line == line_of(JUDGE_FIRST, "method: judge")
    assert e.field == "stages.1"
    assert "reads 'output'" in e.message and "answer" in e.message
    assert e.exit_code == 2 and "\n" not in e.one_line()


ANSWER_ON_ANSWERED = """\
stages:
  - method: self_instruct
    instances: full
  - method: answer
"""


def test_answer_without_overwrite_on_answered_records_is_refused(tmp_path):
    p = write(tmp_path, ANSWER_ON_ANSWERED)
    e = error_of(p)
    assert e.line == line_of(ANSWER_ON_ANSWERED, "method: answer")
    assert "overwrite: true" in e.message and "input_only" in e.message
    # either fix makes it work
    load_recipe(write(tmp_path, ANSWER_ON_ANSWERED + "    overwrite: true\n"))
    load_recipe(write(tmp_path, ANSWER_ON_ANSWERED.replace("full", "input_only")))


def test_a_generator_after_the_first_stage_is_refused(tmp_path):
    text = "stages:\n  - method: self_instruct\n    instances: input_only\n  - method: answer\n  - method: magpie\n"
    e = error_of(write(tmp_path, text))
    assert e.line == 5 and "only the first stage may generate" in e.message


def test_source_recipe_starts_with_a_transform(tmp_path):
    text = "source: {path: in.jsonl, fields: {instruction: prompt}}\nstages:\n  - method: answer\n  - method: judge\n"
    r = load_recipe(write(tmp_path, text))
    assert r.source.path == "in.jsonl" and r.source.fields == {"instruction": "prompt"}
    assert r.goal is None  # every row
    e = error_of(write(tmp_path, "source: {path: in.jsonl}\nstages:\n  - method: self_instruct\n"))
    assert e.line == 3 and "source" in e.message
    e = error_of(write(tmp_path, "stages:\n  - method: answer\n"))
    assert e.line == 2 and "source:" in e.message
    e = error_of(write(tmp_path, "source: {path: x.jsonl, fields: {question: q}}\nstages:\n  - method: answer\n"))
    assert e.line == 1 and "question" in e.message


MODELS = """\
target: 3
llm: {backend: embedded}
models:
  gen: {backend: openai, base_url: http://127.0.0.1:9/v1, model: base-7b, license: apache-2.0}
  judge: {backend: openai, base_url: [http://127.0.0.1:9/v1, http://127.0.0.1:10/v1], model: big}
stages:
  - method: self_instruct
    model: gen
    instances: input_only
  - method: answer
  - method: judge
    model: judge
"""


def test_named_models_and_stage_choice(tmp_path):
    r = load_recipe(write(tmp_path, MODELS))
    assert [r.model_of(s) for s in r.stages] == ["gen", "default", "judge"]
    assert r.llm_for("gen").license == "apache-2.0"
    assert r.llm_for("judge").urls == ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]
    assert r.llm_for("default").backend == "embedded"


def test_unknown_model_name_is_refused_at_the_stage_line(tmp_path):
    text = MODELS.replace("model: judge\n", "model: jduge\n")
    e = error_of(write(tmp_path, text))
    assert e.line == line_of(text, "model: jduge") and e.field == "stages.2.model"
    assert "jduge" in e.message and "judge" in e.message


def test_llm_urls_must_be_http(tmp_path):
    e = error_of(write(tmp_path, MODELS.replace("http://127.0.0.1:9/v1, model: base-7b",
                                                "ftp://127.0.0.1:9/v1, model: base-7b")))
    assert e.line == 4 and "http" in e.message


def test_cli_overrides_reach_named_models(tmp_path):
    r = load_recipe(write(tmp_path, MODELS))
    r2 = apply_overrides(r, ["judge=http://10.0.0.2:8000/v1", "embedded"],
                         ["judge=Qwen/Qwen2.5-32B-Instruct"], ["judge=apache-2.0"])
    j = r2.llm_for("judge")
    assert (j.base_url, j.model, j.license) == ("http://10.0.0.2:8000/v1",
                                                "Qwen/Qwen2.5-32B-Instruct", "apache-2.0")
    assert r2.llm_for("gen") == r.llm_for("gen")
    r3 = apply_overrides(r, ["http://h:1/v1,http://h:2/v1"], ["m"], ["mit"])
    assert r3.llm.urls == ["http://h:1/v1", "http://h:2/v1"] and r3.llm.license == "mit"
    with pytest.raises(TaneError, match="no model named 'nope'"):
        apply_overrides(r, ["nope=http://h/v1"])
    with pytest.raises(TaneError, match="needs the model the server serves"):
        apply_overrides(load_recipe(write(tmp_path, "stages:\n  - method: self_instruct\n")),
                        ["http://h/v1"])


def test_one_registry_feeds_recipe_runner_card_and_docs():
    from tane.export.card import GENERATORS as CARD_GENERATORS, METHOD_TEXT
    from tane.recipe import TAGS
    assert set(TAGS) == set(METHODS)
    assert set(CARD_GENERATORS) == set(generators()) | {"evol_instruct"}  # rewrites them
    for name, m in METHODS.items():
        assert METHOD_TEXT[name] == m.card_text and m.card_text
        assert m.stage_class().__name__  # importable
    from tane.config.registry import markdown_table
    docs = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    table = docs.split("<!-- registry table: begin -->\n")[1].split("<!-- registry table: end -->")[0]
    assert table == markdown_table(), "regenerate docs/methods.md: python -m tane.config.registry"


def test_ordered_curate_steps_are_the_stateful_ones():
    stateful = {name for name, cls in STEPS.items() if getattr(cls, "stateful", False)}
    assert stateful == set(ORDERED_STEPS)
