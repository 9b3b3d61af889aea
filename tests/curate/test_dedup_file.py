"""dedup_file: kept/rejected outputs, drop reasons, report, and atomic failure."""

from __future__ import annotations

import json

import pytest

from tane.curate.dedup import dedup_file, rejected_path_for
from tane.errors import TaneError

ROWS = [
    {"id": "a1", "instruction": "Write a short poem about the sea at night."},          # 1 kept
    {"instruction": "Write a short poem about the sea at night, please."},             # 2 dup
    {"output": "no instruction here"},                                                 # 3 missing
    {"instruction": 42},                                                               # 4 missing
    {"instruction": "   "},                                                            # 5 empty
    {"instruction": "日本の首都について、小学生にもわかるように説明してください。"},        # 6 kept
    {"instruction": "日本の首都について小学生にもわかるように説明してください"},            # 7 dup
    {"instruction": "List three uses of vinegar in cleaning."},                        # 8 kept
    {"instruction": "write a short poem about the sea at night"},                      # 9 dup of 1
]


def write_jsonl(path, rows, bom=False):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return lines


def read_jsonl(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("bom", [False, True])
def test_dedup_file_outputs_and_report(tmp_path, bom):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = write_jsonl(src, ROWS, bom=bom)
    progress = []
    report = dedup_file(src, out, on_progress=lambda d, t: progress.append((d, t)))

    assert out.read_text(encoding="utf-8").splitlines() == [lines[0], lines[5], lines[7]]
    rejected = read_jsonl(rejected_path_for(out))
    assert rejected_path_for(out) == tmp_path / "out.rejected.jsonl"
    assert [r["_drop"]["reason"] for r in rejected] == [
        "near_duplicate", "missing_field", "missing_field", "empty", "near_duplicate",
        "near_duplicate"]
    assert rejected[1]["output"] == "no instruction here"
    assert rejected[2]["_drop"]["detail"]["found"] == "int"

    dup_en = rejected[0]["_drop"]["detail"]
    assert dup_en["similar_to"] == "a1" and dup_en["similar_line"] == 1
    assert dup_en["similar_text"] == ROWS[0]["instruction"]
    assert 0.7 < dup_en["score"] <= 1.0
    dup_ja = rejected[4]["_drop"]["detail"]
    assert dup_ja["similar_to"] == 6  # no id: the line number
    assert rejected[5]["_drop"]["detail"]["score"] == 1.0  # same tokens, case folded

    raw = rejected_path_for(out).read_text(encoding="utf-8")
    assert "日本の首都" in raw and "\\u" not in raw  # ensure_ascii=False

    assert report.rows_in == 9 and report.kept == 3
    assert report.dropped_by_reason == {"empty": 1, "missing_field": 2, "near_duplicate": 3}
    assert report.tokenizer.startswith("auto:ja=")
    assert report.seconds >= 0
    assert progress and progress[-1] == (6, 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl", "out.jsonl", "out.rejected.jsonl"]


def test_explicit_tokenizer_and_threshold(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    write_jsonl(src, [{"q": "日本の首都はどこ"}, {"q": "日本の首都はどこ"}, {"q": "abc"}])
    report = dedup_file(src, out, field="q", tokenizer="rouge")
    assert report.kept == 3 and report.tokenizer == "rouge"  # rouge cannot see Japanese
    report = dedup_file(src, out, field="q", tokenizer="char")
    assert report.kept == 2 and report.tokenizer == "char"
    report = dedup_file(src, out, field="q", tokenizer="char", threshold=1.0)
    assert report.kept == 3
    assert read_jsonl(rejected_path_for(out)) == []


def test_broken_line_names_the_line_and_writes_nothing(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"instruction": "a"}\n\n{"instruction": "b",\n{"instruction": "c"}\n',
                   encoding="utf-8")
    with pytest.raises(TaneError) as info:
        dedup_file(src, out)
    assert info.value.line == 3 and info.value.path == str(src)
    assert f"{src}:3:" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_failure_leaves_previous_outputs_alone(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    src.write_text('{"instruction": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(TaneError, match="expected a JSON object") as info:
        dedup_file(src, out)
    assert info.value.line == 2
    assert out.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_user_errors(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, ROWS[:2])
    with pytest.raises(TaneError) as info:
        dedup_file(src, out, tokenizer="sentencepiece")
    assert info.value.field == "tokenizer"
    with pytest.raises(TaneError) as info:
        dedup_file(src, out, threshold=7)
    assert info.value.field == "threshold"
    with pytest.raises(TaneError, match="file not found"):
        dedup_file(tmp_path / "nope.jsonl", out)
    (tmp_path / "sjis.jsonl").write_bytes('{"instruction": "日本"}\n'.encode("cp932"))
    with pytest.raises(TaneError, match="UTF-8"):
        dedup_file(tmp_path / "sjis.jsonl", out)
    with pytest.raises(TaneError, match="output directory"):
        dedup_file(src, tmp_path / "missing" / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "sjis.jsonl"]


def test_in_place_and_empty_input(tmp_path):
    src = tmp_path / "data.jsonl"
    write_jsonl(src, [{"instruction": "same thing"}, {"instruction": "same thing"}])
    report = dedup_file(src, src)
    assert report.kept == 1 and len(read_jsonl(src)) == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    report = dedup_file(empty, tmp_path / "e_out.jsonl")
    assert report.rows_in == 0 and report.kept == 0 and report.dropped_by_reason == {}
    assert (tmp_path / "e_out.jsonl").read_text(encoding="utf-8") == ""
