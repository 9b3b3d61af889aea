"""Every benchmark reader, the bundled samples, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from tane.errors import TaneError
from tane.eval.bench import bundled_names, load_bench


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, rows):
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def test_bundled_samples_in_each_format():
    assert bundled_names() == ["alpaca_eval_en", "elyza_ja", "mt_bench_ja"]
    el = load_bench("bundled:elyza_ja")
    assert (el.format, el.lang) == ("elyza", "ja") and 6 <= len(el.items) <= 10
    assert all(it.reference and it.eval_aspect and len(it.turns) == 1 for it in el.items)
    mt = load_bench("bundled:mt_bench_ja")
    assert (mt.format, mt.lang) == ("mt_bench", "ja")
    assert all(len(it.turns) == 2 and it.category for it in mt.items)
    refs = {it.category for it in mt.items if it.reference}
    assert refs == {"math", "reasoning", "coding"}
    al = load_bench("bundled:alpaca_eval_en")
    assert (al.format, al.lang) == ("alpaca_eval", "en")
    assert all(it.baseline and it.baseline["model"] == "tane-sample-baseline" and it.category
               for it in al.items)
    with pytest.raises(TaneError, match="available: alpaca_eval_en, elyza_ja, mt_bench_ja"):
        load_bench("bundled:nope")


def test_elyza_csv_with_bom_and_multiline_cells(tmp_path):
    p = tmp_path / "test.csv"
    p.write_bytes("\ufeffinput,output,eval_aspect\n\"一行目\n二行目\",答え,\"- 観点\"\n"
                  "次の課題,,\n".encode())
    b = load_bench(p)
    assert b.format == "elyza" and b.lang == "ja"
    assert [it.id for it in b.items] == ["1", "2"]
    assert b.items[0].turns == ["一行目\n二行目"] and b.items[0].reference == ["答え"]
    assert b.items[0].eval_aspect == "- 観点"
    assert b.items[1].reference is None and b.items[1].eval_aspect is None


def test_elyza_cp932_csv(tmp_path):
    p = tmp_path / "sjis.csv"
    p.write_bytes("input,output,eval_aspect\n要約してください,要約,短いこと\n".encode("cp932"))
    assert load_bench(p).items[0].turns == ["要約してください"]


def test_mt_bench_with_a_reference_file(tmp_path):
    q = jsonl(tmp_path / "question.jsonl", [
        {"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now another."]},
        {"question_id": 111, "category": "math", "turns": ["2+2?", "3+3?"],
         "reference": ["4"]},
    ])
    r = jsonl(tmp_path / "gpt-4.jsonl", [
        {"question_id": 111, "model_id": "x", "choices": [{"index": 0, "turns": ["4.", "6."]}]},
        {"question_id": 999, "choices": [{"turns": ["ignored"]}]},
    ])
    b = load_bench(q)
    assert b.format == "mt_bench" and b.lang == "en"
    assert b.items[1].reference == ["4", ""]  # padded to the turns
    b = load_bench(q, references=r)
    assert [it.id for it in b.items] == ["81", "111"]
    assert b.items[0].reference is None and b.items[1].reference == ["4.", "6."]


def test_alpaca_eval_json_list_and_input(tmp_path):
    p = write(tmp_path / "alpaca.json", json.dumps([
        {"instruction": "Sort these.", "input": "b, a", "output": "a, b", "generator": "gpt4",
         "dataset": "helpful_base"},
        {"instruction": "Say hi.", "output": "Hi!", "generator": "gpt4", "dataset": "oasst"},
    ]))
    b = load_bench(p)
    assert b.format == "alpaca_eval"
    assert b.items[0].turns == ["Sort these.\n\nb, a"]
    assert b.items[0].baseline == {"model": "gpt4", "output": "a, b"}
    assert b.items[1].category == "oasst"


def test_tane_run_directory_and_forced_format(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    jsonl(run / "dataset.jsonl", [
        {"id": "r1", "instruction": "翻訳してください", "input": "cat", "output": "猫",
         "provenance": {"judge": {"category": "translation"}}},
        {"id": "r2", "instruction": "挨拶を書いて", "input": "", "output": "こんにちは"},
    ])
    b = load_bench(run)
    assert b.format == "tane_run" and b.lang == "ja"
    assert b.items[0].id == "r1" and b.items[0].turns == ["翻訳してください\n\ncat"]
    assert b.items[0].reference == ["猫"] and b.items[0].category == "translation"
    # an alpaca-style file without a generator is read as tane records unless forced
    p = jsonl(tmp_path / "x.jsonl", [{"instruction": "Hi?", "output": "Hello"}])
    assert load_bench(p).format == "tane_run"
    forced = load_bench(p, format="alpaca_eval")
    assert forced.items[0].baseline == {"model": "baseline", "output": "Hello"}


@pytest.mark.parametrize("name, text, where", [
    ("q.jsonl", '{"question_id": 1, "category": "x", "turns": ["a", "b"]}\n'
                '{"question_id": 2, "category": "x", "turns": "not a list"}\n',
     "q.jsonl:2: field 'turns': expected a list of one or two strings"),
    ("q.jsonl", '{"question_id": 1, "turns": ["a", "b"]}\n{"question_id": 1, "turns": ["c"]}\n',
     "q.jsonl:2: field 'question_id': duplicate id '1' (first at line 1)"),
    ("q.jsonl", '{"question_id": 1, "turns": ["a", "b", "c"]}\n',
     "q.jsonl:1: field 'turns': expected one or two turns, got 3"),
    ("q.jsonl", '{"question_id": 1, "turns": ["a", ""]}\n',
     "q.jsonl:1: field 'turns': turn 2 is empty"),
    ("e.jsonl", '{"input": "ok", "output": "x"}\n{"input": 5}\n',
     "e.jsonl:2: field 'input': expected a string, got int"),
    ("e.jsonl", '{"input": "ok"}\n{"input": "   "}\n',
     "e.jsonl:2: field 'input': must not be empty"),
    ("e.csv", "input,output,eval_aspect\nok,x,y\n,x,y\n",
     "e.csv:3: field 'input': missing required field"),
    ("a.json", '[{"instruction": "x", "generator": "g"}, {"generator": "g"}]',
     "a.json:2: field 'instruction': missing required field (record 2)"),
    ("b.jsonl", '{"input": "ok"}\n{not json\n', "b.jsonl:2: invalid JSON"),
    ("c.jsonl", '{"prompt": "x"}\n', "c.jsonl:1: cannot tell the benchmark format"),
    ("d.txt", "hello\n", "d.txt: unknown benchmark file extension '.txt'"),
    ("f.jsonl", "\n", "f.jsonl: no items found (the file is empty)"),
])
def test_bad_input_is_one_line_naming_file_line_and_field(tmp_path, name, text, where):
    p = write(tmp_path / name, text)
    with pytest.raises(TaneError) as e:
        load_bench(p)
    msg = e.value.one_line()
    assert "\n" not in msg
    assert msg.startswith(str(tmp_path / where.split(":")[0])), msg
    assert where.split("/")[-1] in msg.replace(str(tmp_path) + "/", ""), msg


def test_bad_reference_file_and_options(tmp_path):
    q = jsonl(tmp_path / "q.jsonl", [{"question_id": 1, "turns": ["a", "b"]}])
    r = jsonl(tmp_path / "r.jsonl", [{"question_id": 1, "choices": "x"}])
    with pytest.raises(TaneError, match=r"r.jsonl:1: field 'choices'"):
        load_bench(q, references=r)
    with pytest.raises(TaneError, match="reference answer file not found"):
        load_bench(q, references=tmp_path / "missing.jsonl")
    e = jsonl(tmp_path / "e.jsonl", [{"input": "x"}])
    with pytest.raises(TaneError, match="--references is for MT-Bench"):
        load_bench(e, references=r)
    with pytest.raises(TaneError, match="unknown benchmark format 'x'"):
        load_bench(e, format="x")
    with pytest.raises(TaneError, match="benchmark file not found"):
        load_bench(tmp_path / "nope.jsonl")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(TaneError, match="without dataset.jsonl"):
        load_bench(tmp_path / "empty_dir")
