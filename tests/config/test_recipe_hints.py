"""Recipe errors that help: every error on the one line (up to a cap, in file order), "did
you mean" for a misspelled key or method, the valid methods listed."""

from __future__ import annotations

import pytest

from tane.config.hints import did_you_mean, keys_at
from tane.config.registry import METHODS, method
from tane.errors import TaneError
from tane.recipe import MAX_ERRORS, Recipe, load_recipe


def error_of(tmp_path, text: str) -> TaneError:
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(TaneError) as info:
        load_recipe(p)
    return info.value


def test_all_errors_on_one_line_in_file_order(tmp_path):
    e = error_of(tmp_path, "name: x\ntargte: 5\nllm: {backend: embedded, slotz: 2}\nstages:\n"
                           "  - method: answer\n    samplng: {max_tokens: 10}\n")
    line = e.one_line()
    assert "\n" not in line and "more)" not in line
    # the first error names file, line and field; the others follow in the file's order
    assert (e.line, e.field) == (2, "targte")
    assert line.startswith(f"{tmp_path / 'r.yaml'}:2: field 'targte': unknown key; "
                           "did you mean 'target'?")
    assert line.index("line 3: field 'llm.slotz': unknown key; did you mean 'slots'?") < \
        line.index("line 6: field 'stages.0.samplng': unknown key; did you mean 'sampling'?")


def test_errors_past_the_cap_are_counted(tmp_path):
    keys = "".join(f"    bad_key_{k}: 1\n" for k in range(MAX_ERRORS + 3))
    e = error_of(tmp_path, f"stages:\n  - method: answer\n{keys}")
    line = e.one_line()
    assert line.count("unknown key") == MAX_ERRORS
    assert line.endswith("(and 3 more)")


def test_misspelled_method_lists_the_valid_ones(tmp_path):
    e = error_of(tmp_path, "stages:\n  - method: self_instuct\n")
    assert (e.line, e.field) == (2, "stages.0")
    assert "unknown method 'self_instuct'; did you mean 'self_instruct'?" in e.message
    assert f"(valid: {', '.join(METHODS)})" in e.message
    e = error_of(tmp_path, "stages:\n  - mode: ja\n")
    assert "missing key 'method' (valid: self_instruct, alpaca" in e.message


@pytest.mark.parametrize("text, field, hint", [
    ("stages:\n  - method: alpaca\n    sampling: {tempreature: 0.5}\n",
     "stages.0.sampling.tempreature", "did you mean 'temperature'?"),
    ("models:\n  gen: {backend: openai, base_ur: x}\nstages:\n  - method: alpaca\n",
     "models.gen.base_ur", "did you mean 'base_url'?"),
    ("stages:\n  - method: self_instruct\n    instances_per_tsk: 2\n",
     "stages.0.instances_per_tsk", "did you mean 'instances_per_task'?"),
    ("stages:\n  - method: curate\n    lnag: ja\n    steps: [{name: length}]\n",
     "stages.0.lnag", "did you mean 'lang'?"),
])
def test_did_you_mean_for_keys_in_nested_sections(tmp_path, text, field, hint):
    e = error_of(tmp_path, text)
    assert e.field == field and e.message == f"unknown key; {hint}"


def test_no_hint_for_a_key_like_nothing(tmp_path):
    e = error_of(tmp_path, "zzzzqqq: 1\nstages:\n  - method: answer\n")
    assert e.message == "unknown key"


def test_hint_helpers():
    assert did_you_mean("Target", ["target", "seed"]) == "; did you mean 'target'?"
    assert did_you_mean("xyz", ["target"]) == ""
    assert "temperature" in keys_at(Recipe, ("stages", 0, "alpaca", "sampling"))
    assert "base_url" in keys_at(Recipe, ("models", "gen"))
    assert "target" in keys_at(Recipe, ())


def test_registry_lookup_of_an_unknown_method_lists_the_valid_ones():
    with pytest.raises(TaneError, match=r"unknown method 'nope' \(valid: self_instruct, "):
        method("nope")


@pytest.mark.parametrize("stage, key, hint", [
    # a sampling key written at stage level: where it goes, not a stage key that looks alike
    ("judge", "temperature", "'temperature' goes under sampling:"),      # was retry_temperature
    ("self_instruct", "max_tokens",
     "'max_tokens' goes under sampling: or instance_sampling:"),  # was max_rounds
    ("answer", "top_p", "'top_p' goes under sampling:"),
    ("magpie", "temperature",
     "'temperature' goes under instruction_sampling: or response_sampling:"),
    # misspelt: the closest key of the stage or of its sections
    ("judge", "tempreature", "did you mean 'temperature' under sampling:?"),  # was template
    ("self_instruct", "treshold", "did you mean 'threshold' under novelty:?"),
    ("self_instruct", "max_round", "did you mean 'max_rounds'?"),
])
def test_a_key_of_a_section_written_at_stage_level(tmp_path, stage, key, hint):
    e = error_of(tmp_path, f"stages:\n  - method: {stage}\n    {key}: 0.5\n")
    assert (e.line, e.field, e.message) == (3, f"stages.0.{key}", f"unknown key; {hint}")


def test_stage_keys_are_the_stage_s_own(tmp_path):
    """The keys offered at a stage are those of its method, not of every method."""
    assert "max_rounds" not in keys_at(Recipe, ("stages", 0, "answer"))
    assert "num_examples" in keys_at(Recipe, ("stages", 0, "answer"))
    e = error_of(tmp_path, "stages:\n  - method: answer\n    max_rounds: 3\n")
    assert "'max_rounds'" not in e.message  # was: did you mean 'max_rounds'?
