"""One reader of YAML problems for every YAML file tane reads (recipes, curate configs,
eval plans, grid few-shot files, agent taxonomies, review questions): the line of a field
given as a node path, and the line of a syntax error, said the same way by each."""

from __future__ import annotations

import pytest
import yaml

from tane.errors import TaneError
from tane.yaml_errors import error_at, field_loc, line_of, syntax_error

DOC = "a: 1\nb:\n  c:\n    - x\n    - y: 2\n      z: 3\n"


def test_line_of_a_node_path_and_of_its_deepest_parent():
    root = yaml.compose(DOC)
    assert line_of(root, ("a",)) == 1
    assert line_of(root, ("b", "c", 1, "z")) == 6
    assert line_of(root, ("b", "c", 5)) == 3      # no item 5: the list's key
    assert line_of(root, ()) == 1
    assert line_of(None, ("a",)) is None
    assert field_loc("b.c.1.z") == ("b", "c", 1, "z")


def test_error_at_and_syntax_error_say_file_line_and_field(tmp_path):
    p = tmp_path / "x.yaml"
    root = yaml.compose(DOC)
    e = error_at("must be a number", p, root, ("b", "c", 1, "z"))
    assert e.one_line() == f"{p}:6: field 'b.c.1.z': must be a number"
    with pytest.raises(yaml.YAMLError) as bad:
        yaml.compose("a: [1, 2\nb: 3\n")
    e = syntax_error(bad.value, p, field="examples")
    assert e.one_line().startswith(f"{p}:2: field 'examples': invalid YAML: ")


def _fails(fn, *args) -> str:
    with pytest.raises(TaneError) as e:
        fn(*args)
    return e.value.one_line()


def test_each_yaml_reader_names_the_line(tmp_path):
    from tane.curate.apply import load_curate_config
    from tane.eval.plan import load_plan
    from tane.methods.agent_taxonomy import parse_taxonomy
    from tane.methods.grid_spec import load_file_examples
    from tane.review.web.questions import load

    bad = "# one\nsteps: [1, 2\nlang: ja\n"
    for i, fn in enumerate((load_curate_config, load_plan)):
        p = tmp_path / f"bad{i}.yaml"
        p.write_text(bad, encoding="utf-8")
        assert _fails(fn, p).startswith(f"{p}:3: invalid YAML: ")
    p = tmp_path / "curate.yaml"
    p.write_text("lang: ja\nsteps:\n  - name: length\n    nope: 1\n", encoding="utf-8")
    assert _fails(load_curate_config, p).startswith(f"{p}:4: field 'steps.0.nope'")
    p = tmp_path / "plan.yaml"
    p.write_text("bench: jcq\nmodels:\n  a:\n    nope: 1\n", encoding="utf-8")
    assert _fails(load_plan, p).startswith(f"{p}:4: field 'models.a.nope': unknown key")
    assert _fails(parse_taxonomy, "skills: [1, 2\n", "tax.yaml").startswith(
        "tax.yaml:2: invalid YAML: ")
    p = tmp_path / "shots.yaml"
    p.write_text("- question: a\n  answer: [b\n", encoding="utf-8")
    assert _fails(load_file_examples, p, "examples").startswith(
        f"{p}:3: field 'examples': invalid YAML: ")
    p = tmp_path / "questions.yaml"
    p.write_text("- name: natural\n  kind: [choice\n", encoding="utf-8")
    assert _fails(load, p).startswith(f"{p}:3: invalid YAML: ")

