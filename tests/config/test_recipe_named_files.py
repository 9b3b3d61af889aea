"""A file or template a recipe names that is not there is said at the recipe's line, with
the field and the missing file: `tane run` and `tane plan` alike, before anything is
written. Real CLI runs on real recipe files."""

from __future__ import annotations

import pytest

from helpers import run_tane

SI = "  - method: self_instruct\n    instances: input_only\n"

CASES = [
    # (recipe text, line, field, message; {d} is the recipe's folder)
    ("name: t\nseeds:\n  path: nope.jsonl\nstages:\n" + SI,
     3, "seeds.path", "seed file not found: {d}/nope.jsonl"),
    ("name: t\nstages:\n" + SI + "  - method: answer\n"
     "    templates: {ja_completion: missing.j2}\n",
     6, "stages.1.templates.ja_completion", "template file not found: {d}/missing.j2"),
    ("name: t\nstages:\n  - method: self_instruct\n    templates:\n      nonexist: x.j2\n",
     5, "stages.0.templates.nonexist", "no template of this name in this stage; known: "
     "ja_generate, ja_classify, ja_instance_input_first, ja_instance_output_first"),
    ("name: t\nsource:\n  path: nope.jsonl\nstages:\n  - method: curate\n"
     "    steps: [{name: length}]\n",
     3, "source.path", "file not found: {d}/nope.jsonl"),
]


@pytest.mark.parametrize("command", [["run", "--dry-run", "--out", "{run}"], ["plan"]])
@pytest.mark.parametrize("text, line, field, message", CASES)
def test_missing_file_named_at_the_recipe_line(tmp_path, command, text, line, field,
                                               message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    res = run_tane(command[0], str(recipe),
                   *[a.format(run=run) for a in command[1:]])
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == (f"error: {recipe}:{line}: field '{field}': "
                                  + message.format(d=tmp_path))
    assert not run.exists()
