"""Recipe loading: pydantic validation turned into one-line errors (file:line, field), and
the CLI failing with exit code 2 before it creates a run directory or calls a model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tane.cli import app
from tane.errors import TaneError
from tane.recipe import AnswerStage, Recipe, SelfInstructStage, load_recipe

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"

GOOD = """\
name: t
seed: 3
target: 5
stages:
  - method: self_instruct
    mode: ja
"""


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def error_of(path: Path, overrides: dict | None = None) -> TaneError:
    with pytest.raises(TaneError) as info:
        load_recipe(path, overrides)
    return info.value


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of ``text`` containing ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in the recipe text")


def assert_points_at(e: TaneError, path: Path, line: int, field: str | None, *words: str):
    msg = e.one_line()
    assert "\n" not in msg
    assert e.exit_code == 2
    assert e.path == str(path)
    assert e.line == line, msg
    assert msg.startswith(f"{path}:{line}: "), msg
    assert e.field == field, msg
    if field is not None:
        assert f"'{field}'" in msg
    for w in words:
        assert w in msg, msg


# ------------------------------------------------------------------------ good recipes

def test_quickstart_loads():
    rec = load_recipe(QUICKSTART)
    assert isinstance(rec, Recipe)
    assert rec.name == "quickstart-ja"
    assert (rec.seed, rec.target) == (7, 8)
    assert rec.llm.backend == "embedded"
    assert rec.seeds.path == "bundled:ja"
    assert [s.method for s in rec.stages] == ["self_instruct", "answer", "curate"]
    si, ans, cur = rec.stages
    assert "copies" in [s.name for s in cur.steps]
    assert isinstance(si, SelfInstructStage) and isinstance(ans, AnswerStage)
    assert si.truncated == "last_item" and si.instances == "input_only"
    assert (si.sampling.temperature, si.sampling.top_p, si.sampling.max_tokens) == (0.7, 0.5, 320)
    assert si.sampling.presence_penalty == 2.0  # the paper's value, kept when max_tokens is set
    # keys the recipe leaves out take the stage's own defaults, not Sampling's
    assert si.instance_sampling.temperature == 0.0
    assert ans.sampling.max_tokens == 256


def test_target_override_replaces_the_file_value():
    assert load_recipe(QUICKSTART, {"target": 3}).target == 3
    assert load_recipe(QUICKSTART, {}).target == 8
    assert load_recipe(QUICKSTART, None).target == 8


def test_invalid_target_override_is_an_error_naming_target():
    e = error_of(QUICKSTART, {"target": 0})
    assert e.field == "target"
    assert str(QUICKSTART) in e.one_line()


def test_minimal_recipe_gets_defaults(tmp_path):
    rec = load_recipe(write(tmp_path, "stages:\n  - method: alpaca\n"))
    assert rec.name == "recipe" and rec.target is None and rec.goal == 50 and rec.seed == 0
    assert rec.stages[0].method == "alpaca" and rec.stages[0].tasks_per_request == 20


def test_utf8_bom_is_accepted(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_recipe(p).target == 5


# ------------------------------------------------------------------------- unknown keys

def test_unknown_top_level_key(tmp_path):
    text = GOOD.replace("target: 5\n", "target: 5\ntemprature: 0.2\n")
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, line_of(text, "temprature"), "temprature", "unknown key")


def test_unknown_key_in_a_stage(tmp_path):
    text = GOOD + "    temprature: 0.3\n"
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 7, "stages.0.temprature", "unknown key")


def test_unknown_key_in_nested_sampling_block(tmp_path):
    text = GOOD + "    sampling:\n      temperature: 0.5\n      temprature: 0.3\n"
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 9, "stages.0.sampling.temprature", "unknown key")


def test_unknown_key_in_flow_mapping(tmp_path):
    text = GOOD + "    sampling: {temperature: 0.5, temprature: 0.3}\n"
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 7, "stages.0.sampling.temprature", "unknown key")


def test_unknown_key_in_second_stage(tmp_path):
    text = GOOD + "  - method: answer\n    mode: ja\n    num_exampels: 2\n"
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 9, "stages.1.num_exampels", "unknown key")


def test_unknown_key_in_llm_block(tmp_path):
    text = "llm:\n  backend: embedded\n  slot: 2\n" + GOOD
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 3, "llm.slot", "unknown key")


def test_unknown_key_named_like_a_method_keeps_its_name(tmp_path):
    # a plausible mistake: stage settings written at the top level under the method name
    text = GOOD + "self_instruct:\n  mode: ja\n"
    p = write(tmp_path, text)
    e = error_of(p)
    assert e.field == "self_instruct"
    assert e.line == line_of(text, "self_instruct:")


# --------------------------------------------------------------------------- bad types

def test_wrong_type_top_level(tmp_path):
    text = GOOD.replace("target: 5", "target: many")
    p = write(tmp_path, text)
    e = error_of(p)
    assert_points_at(e, p, 3, "target", "integer")


def test_wrong_type_nested(tmp_path):
    text = GOOD + '    sampling: {max_tokens: "x"}\n'
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 7, "stages.0.sampling.max_tokens", "integer")


def test_out_of_range_value(tmp_path):
    text = GOOD + "    sampling:\n      top_p: 0.9\n      temperature: 5\n"
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 9, "stages.0.sampling.temperature", "2")


def test_bad_literal(tmp_path):
    text = GOOD.replace("mode: ja", "mode: fr")
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 6, "stages.0.mode", "'ja'")


def test_stages_missing_or_empty(tmp_path):
    p = write(tmp_path, "name: t\n")
    e = error_of(p)
    assert e.field == "stages" and "required" in e.one_line().lower()
    p = write(tmp_path, "name: t\nstages: []\n", "empty.yaml")
    e = error_of(p)
    assert e.field == "stages" and e.line == 2


# --------------------------------------------------------------------- semantic errors

def test_unknown_method(tmp_path):
    text = GOOD.replace("method: self_instruct", "method: no_such_method")
    p = write(tmp_path, text)
    assert_points_at(error_of(p), p, 5, "stages.0", "unknown method 'no_such_method'")


def test_answer_stage_first(tmp_path):
    text = "stages:\n  - method: answer\n  - method: self_instruct\n"
    p = write(tmp_path, text)
    e = error_of(p)
    assert e.path == str(p) and e.line is not None
    assert "first stage must generate" in e.one_line()


def test_answer_only(tmp_path):
    p = write(tmp_path, "stages:\n  - method: answer\n")
    assert "first stage must generate" in error_of(p).one_line()


def test_two_generators(tmp_path):
    text = GOOD + "  - method: alpaca\n"
    p = write(tmp_path, text)
    e = error_of(p)
    assert "only the first stage may generate" in e.one_line()
    assert str(p) in e.one_line()


def test_generator_then_answers_is_fine(tmp_path):
    rec = load_recipe(write(tmp_path, GOOD + "    instances: input_only\n  - method: answer\n"
                                             "  - method: answer\n    overwrite: true\n"))
    assert [s.method for s in rec.stages] == ["self_instruct", "answer", "answer"]


@pytest.mark.parametrize("llm", [
    "llm:\n  backend: openai\n",
    "llm:\n  backend: openai\n  base_url: http://127.0.0.1:8000/v1\n",
    "llm:\n  backend: openai\n  model: m\n",
])
def test_openai_backend_needs_base_url_and_model(tmp_path, llm):
    p = write(tmp_path, llm + GOOD)
    assert_points_at(error_of(p), p, 1, "llm", "base_url", "model")


def test_openai_backend_with_both_is_fine(tmp_path):
    rec = load_recipe(write(tmp_path, "llm:\n  backend: openai\n  base_url: http://h/v1\n"
                                      "  model: m\n" + GOOD))
    assert (rec.llm.backend, rec.llm.base_url, rec.llm.model) == ("openai", "http://h/v1", "m")


def test_machine_instructions_cannot_exceed_prompt_instructions(tmp_path):
    text = GOOD + "    num_prompt_instructions: 2\n    num_machine_instructions: 3\n"
    p = write(tmp_path, text)
    e = error_of(p)
    assert e.field == "stages.0" and e.line == 5
    assert "num_machine_instructions cannot exceed num_prompt_instructions" in e.one_line()
    # equal is allowed
    ok = write(tmp_path, GOOD + "    num_prompt_instructions: 3\n"
                                "    num_machine_instructions: 3\n", "ok.yaml")
    assert load_recipe(ok).stages[0].num_machine_instructions == 3


# ------------------------------------------------------------------ not a recipe at all

def test_invalid_yaml_names_the_line(tmp_path):
    text = "name: t\nstages:\n  - method: self_instruct\n    mode: ja\n   bad: 1\n"
    p = write(tmp_path, text)
    e = error_of(p)
    assert e.line == 5
    assert e.one_line().startswith(f"{p}:5: invalid YAML")


def test_duplicate_document_is_invalid_yaml(tmp_path):
    p = write(tmp_path, GOOD + "---\n" + GOOD)
    e = error_of(p)
    assert "invalid YAML" in e.one_line() and str(p) in e.one_line()


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "42\n"])
def test_non_mapping_yaml(tmp_path, text):
    p = write(tmp_path, text)
    e = error_of(p)
    assert e.one_line() == f"{p}:1: a recipe must be a YAML mapping"


def test_missing_recipe_file(tmp_path):
    p = tmp_path / "nope.yaml"
    e = error_of(p)
    assert e.one_line() == f"{p}: recipe file not found"
    # a directory is not a recipe file either
    assert "is a directory, not a recipe file" in error_of(tmp_path).one_line()


# ---------------------------------------------------------------------------------- CLI

@pytest.fixture
def listener():
    """A TCP port nobody answers on but which records connection attempts: pointing
    ``--llm`` at it proves whether the CLI tried to reach a model."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)

    def connections() -> int:
        n = 0
        while True:
            try:
                conn, _ = s.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    yield f"http://127.0.0.1:{s.getsockname()[1]}/v1", connections
    s.close()


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def empty_or_absent(d: Path) -> bool:
    return not d.exists() or not any(d.iterdir())


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def test_cli_bad_recipe_exit_2_one_line_no_run_dir(tmp_path, listener):
    url, connections = listener
    text = GOOD + "    temprature: 0.3\n"
    p = write(tmp_path, text, "bad.yaml")
    out = tmp_path / "run"
    res = invoke("run", str(p), "--out", str(out), "--llm", url, "--model", "m",
                 "--no-progress")
    assert res.exit_code == 2
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert str(p) in lines[0] and ":7:" in lines[0] and "stages.0.temprature" in lines[0]
    assert "unknown key" in lines[0]
    assert res.stdout == ""
    assert empty_or_absent(out)
    assert connections() == 0


def test_cli_bad_recipe_real_process(tmp_path):
    """Through the installed ``tane`` entry point: the exit status a shell sees."""
    exe = Path(sys.executable).with_name("tane")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tane.cli"]
    p = write(tmp_path, GOOD.replace("target: 5", "target: many"), "BAD.yaml")
    out = tmp_path / "DIR"
    env = dict(os.environ, COLUMNS="40")  # a narrow terminal must not wrap the line
    proc = subprocess.run(cmd + ["run", str(p), "--out", str(out)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert f"{p}:3:" in lines[0] and "'target'" in lines[0]
    assert empty_or_absent(out)


def test_cli_existing_empty_out_dir_stays_empty(tmp_path):
    p = write(tmp_path, "stages:\n  - method: nope\n")
    out = tmp_path / "run"
    out.mkdir()
    res = invoke("run", str(p), "--out", str(out))
    assert res.exit_code == 2
    assert "unknown method 'nope'" in res.stderr
    assert list(out.iterdir()) == []


def test_cli_missing_seed_file(tmp_path, listener):
    url, connections = listener
    p = write(tmp_path, "seeds:\n  path: data/missing.jsonl\n" + GOOD)
    out = tmp_path / "run"
    res = invoke("run", str(p), "--out", str(out), "--llm", url, "--model", "m",
                 "--no-progress")
    assert res.exit_code == 2
    lines = error_lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert "seeds.path" in lines[0] and "missing.jsonl" in lines[0] and str(p) in lines[0]
    assert empty_or_absent(out)
    assert connections() == 0


def test_cli_llm_not_a_url(tmp_path):
    out = tmp_path / "run"
    res = invoke("run", str(QUICKSTART), "--out", str(out), "--llm", "ftp://x")
    assert res.exit_code == 2
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "--llm" in lines[0] and "ftp://x" in lines[0]
    assert empty_or_absent(out)


def test_cli_llm_url_without_model(tmp_path, listener):
    url, connections = listener
    out = tmp_path / "run"
    res = invoke("run", str(QUICKSTART), "--out", str(out), "--llm", url)
    assert res.exit_code == 2
    lines = error_lines(res.stderr)
    assert len(lines) == 1 and "--model" in lines[0]
    assert empty_or_absent(out)
    assert connections() == 0


def test_cli_missing_recipe(tmp_path):
    out = tmp_path / "run"
    res = invoke("run", str(tmp_path / "none.yaml"), "--out", str(out))
    assert res.exit_code == 2
    assert "recipe file not found" in res.stderr
    assert empty_or_absent(out)


def test_cli_target_option_is_validated(tmp_path):
    out = tmp_path / "run"
    res = invoke("run", str(QUICKSTART), "--out", str(out), "--target", "0")
    assert res.exit_code == 2
    assert "'target'" in res.stderr
    assert empty_or_absent(out)


def test_cli_missing_template_override_leaves_no_run_dir(tmp_path, listener):
    url, connections = listener
    p = write(tmp_path, GOOD + "    templates: {ja_generate: missing.j2}\n")
    out = tmp_path / "run"
    res = invoke("run", str(p), "--out", str(out), "--llm", url, "--model", "m",
                 "--no-progress")
    assert res.exit_code == 2
    assert "templates.ja_generate" in res.stderr
    assert connections() == 0
    assert empty_or_absent(out)


def test_cli_invalid_seed_file_leaves_no_run_dir(tmp_path):
    (tmp_path / "seeds.jsonl").write_text('{"id": 1\n', encoding="utf-8")
    p = write(tmp_path, "seeds: {path: seeds.jsonl}\n" + GOOD)
    out = tmp_path / "run"
    res = invoke("run", str(p), "--out", str(out))
    assert res.exit_code == 2
    assert "seeds.jsonl:1" in res.stderr
    assert empty_or_absent(out)
