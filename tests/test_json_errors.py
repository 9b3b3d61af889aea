"""A JSON line that cannot be read is named with the column of the problem, in plain words:
Python's messages that end in "at" ("Unterminated string starting at") are not followed by
a second "at". The real commands on real files, and the judges' verdict reader."""

from __future__ import annotations

import json

import pytest

from helpers import run_tane
from tane.errors import TaneError, json_problem
from tane.store.files import read_jsonl
from tane.verdicts import VerdictError, first_json_object

GOOD = json.dumps({"instruction": "日本の首都はどこですか？", "output": "東京です。"},
                  ensure_ascii=False)
BAD = '{"instruction": "abc'  # the string starts at column 17 and never ends


@pytest.mark.parametrize("args", [["seeds", "{f}"], ["dedup", "{f}", "-o", "{o}"]])
def test_commands_name_the_column_once(tmp_path, args):
    f = tmp_path / "in.jsonl"
    f.write_text(f"{GOOD}\n{BAD}\n", encoding="utf-8")
    res = run_tane(*[a.format(f=f, o=tmp_path / "out.jsonl") for a in args])
    assert res.returncode == 2
    assert res.stderr.strip() == (f"error: {f}:2: invalid JSON: Unterminated string "
                                  "starting at column 17")


def test_readers_and_the_verdict_reader(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(f"{GOOD}\n{{\"a\": 1,}}\n{BAD}\n", encoding="utf-8")
    with pytest.raises(TaneError) as e:
        read_jsonl(f)
    assert e.value.one_line() == (f"{f}:2: invalid JSON: Expecting property name enclosed "
                                  "in double quotes at column 9")
    with pytest.raises(VerdictError) as v:
        first_json_object('verdict: {"reason": "short\ttab", "score": 3}')
    assert str(v.value) == "invalid JSON: Invalid control character at column 27"


@pytest.mark.parametrize("text", [BAD, '{"a" 1}', '{"a": "\\q"}', '[1, 2', '{"a": "\x01"}'])
def test_no_message_says_at_twice(text):
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads(text)
    said = json_problem(e.value)
    assert " at at " not in said and said.endswith(f"column {e.value.colno}")
    assert said.count(" at ") == 1
