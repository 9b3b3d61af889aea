"""The prompt stage's recipe section: keep_if expressions, output schemas, templates and
the errors each gives at its own recipe line. No model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tane.config.keep_if import KeepIf, KeepIfError
from tane.config.output_schema import SchemaError, normalize, validate
from tane.errors import TaneError
from tane.recipe import load_recipe

TYPES = {"quality": "integer", "category": "string", "score": "number", "ok": "boolean",
         "tags": "array"}


@pytest.mark.parametrize("expr, values, kept", [
    ("quality >= 3", {"quality": 3}, True),
    ("quality >= 3", {"quality": 2}, False),
    ('category in ["a", "b"]', {"category": "b"}, True),
    ("category in ['a', 'b']", {"category": "c"}, False),
    ('category not in ["a"]', {"category": "c"}, True),
    ('quality > 2 and category == "a" or ok == true', {"quality": 1, "category": "a",
                                                       "ok": True}, True),
    ('quality > 2 and (category == "a" or ok)', {"quality": 3, "category": "b",
                                                 "ok": False}, False),
    ("not quality < 3", {"quality": 4}, True),
    ("score <= 0.5", {"score": 0.25}, True),
    ('"x" in tags', {"tags": ["x", "y"]}, True),
    ("quality != null", {"quality": None}, False),
])
def test_keep_if_evaluates(expr, values, kept):
    assert KeepIf.parse(expr, TYPES).test(values) is kept


@pytest.mark.parametrize("expr, says", [
    ("quality >=", "expected a value at column 11"),
    ("quality >= 3 and", "expected a value"),
    ("quality => 3", "unexpected '=' at column 9"),
    ("qualty >= 3", "'qualty' is not a field of output_schema"),
    ('category >= 3', "compares a text with a number"),
    ("quality in 3", "needs a list or a text"),
    ("__import__('os')", "unexpected '('"),
    ("quality >= 3)", "unexpected ')'"),
    ("", "an empty expression"),
])
def test_bad_keep_if_says_what_is_wrong(expr, says):
    with pytest.raises(KeepIfError, match=None) as e:
        KeepIf.parse(expr, TYPES)
    assert says in str(e.value)


def test_field_list_becomes_a_json_schema():
    s = normalize({"quality": "int", "category": ["a", "b"], "tags": "list[str]",
                   "score": {"type": "number", "minimum": 0, "maximum": 1}})
    assert s["required"] == ["quality", "category", "tags", "score"]
    assert s["additionalProperties"] is False
    assert s["properties"]["category"] == {"type": "string", "enum": ["a", "b"]}
    assert s["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert validate(s, {"quality": 3, "category": "a", "tags": [], "score": 0.5}) is None
    assert "category is 'c', not one of 'a', 'b'" in validate(
        s, {"quality": 3, "category": "c", "tags": [], "score": 0.5})
    assert validate(s, {"quality": 3, "category": "a", "tags": []}) == "score is missing"
    assert "score is 2, above 1" in validate(
        s, {"quality": 3, "category": "a", "tags": [], "score": 2})
    assert "quality is a text, not integer" in validate(
        s, {"quality": "3", "category": "a", "tags": [], "score": 0})
    assert "extra is not a field" in validate(
        s, {"quality": 3, "category": "a", "tags": [], "score": 0, "extra": 1})
    assert "tags[0] is an integer, not string" in validate(
        s, {"quality": 3, "category": "a", "tags": [1], "score": 0})


def test_json_schema_is_taken_as_given_within_what_tane_checks():
    js = {"type": "object", "properties": {"q": {"type": "integer"}}, "required": ["q"]}
    assert normalize(js) == js
    with pytest.raises(SchemaError) as e:
        normalize({"type": "object", "properties": {"q": {"type": "string",
                                                          "format": "date"}}})
    assert "'format' is not supported" in str(e.value)
    assert e.value.loc == ("properties", "q", "format")
    with pytest.raises(SchemaError, match="its type must be string"):
        normalize({"output": "int"})
    with pytest.raises(SchemaError, match="field name 'id'"):
        normalize({"id": "str"})


def _recipe(tmp_path: Path, stage: str) -> Path:
    (tmp_path / "rows.jsonl").write_text('{"instruction": "hi", "output": "yes"}\n',
                                         encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text("name: t\nsource: {path: rows.jsonl}\nstages:\n  - method: prompt\n"
                 + stage, encoding="utf-8")
    return p


@pytest.mark.parametrize("stage, line, field, says", [
    ("    template: 'x {{ output }}'\n    output_schema: {q: int}\n    keep_if: q >> 3\n",
     7, "stages.0.keep_if", "keep_if 'q >> 3': expected a value at column 4"),
    ("    template: 'x {{ outptu }}'\n    field: output\n",
     5, "stages.0.template", "the template names outptu"),
    ("    template: 'x {{ output }'\n    field: output\n",
     5, "stages.0.template", "template syntax error"),
    ("    template: x\n    field: output\n    output_schema: {q: int}\n",
     6, "stages.0.field", "one of them"),
    ("    template: x\n    output_schema:\n      q: int\n      c: [1, a]\n",
     8, "stages.0.output_schema.c", "all texts or all numbers"),
    ("    template: x\n    field: output\n    keep_if: q > 1\n",
     7, "stages.0.keep_if", "give one"),
    ("    template: x\n    field: 2bad\n", 6, "stages.0.field", "field name '2bad'"),
    ("    field: output\n", 4, "stages.0.template", "template: (inline) or template_file:"),
])
def test_a_bad_stage_is_one_error_at_its_line(tmp_path, stage, line, field, says):
    with pytest.raises(TaneError) as e:
        load_recipe(_recipe(tmp_path, stage))
    err = e.value
    assert (err.line, err.field) == (line, field), err.one_line()
    assert says in err.message
    assert str(tmp_path / "r.yaml") == err.path


def test_a_template_that_reads_output_needs_an_output(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: t\nseeds: {path: 'bundled:ja'}\nstages:\n"
                 "  - {method: self_instruct, instances: input_only}\n"
                 "  - method: prompt\n    template: 'polite: {{ output }}'\n"
                 "    field: output\n", encoding="utf-8")
    with pytest.raises(TaneError) as e:
        load_recipe(p)
    assert e.value.line == 5 and "'prompt' reads 'output'" in e.value.message


def test_writes_what_the_field_or_schema_names(tmp_path):
    rec = load_recipe(_recipe(tmp_path, "    template: '{{ output }}'\n    output_schema: "
                                        "{instruction: str, level: [easy, hard]}\n"))
    spec = rec.stages[0].contract()
    assert spec.writes == {"instruction"} and "output" in spec.reads
