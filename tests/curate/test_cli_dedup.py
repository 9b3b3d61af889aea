"""`tane dedup` end to end through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tane
from helpers import run_tane
from tane.cli import app
from tane.errors import TaneError

ROWS = [
    {"id": 1, "instruction": "日本の四季について説明してください。"},
    {"id": 2, "instruction": "日本の四季について説明して下さい。"},  # near duplicate of 1
    {"id": 3, "instruction": "Pythonでリストを逆順にする方法を教えてください。"},
    {"id": 4, "instruction": ""},
    {"id": 5},
]


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def test_dedup_reports_counts_by_reason_and_writes_both_files(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, ROWS)
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--field", "instruction",
                                   "--threshold", "0.7", "--tokenizer", "char"])
    assert res.exit_code == 0, res.output
    assert "5 rows in, 2 kept, 3 dropped" in res.output
    for reason in ("near_duplicate: 1", "empty: 1", "missing_field: 1"):
        assert reason in res.output
    kept = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in kept] == [1, 3]
    rejected = [json.loads(x) for x in
                (tmp_path / "out.rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    near = [r for r in rejected if r["_drop"]["reason"] == "near_duplicate"]
    assert near[0]["id"] == 2 and near[0]["_drop"]["detail"]["score"] > 0.7


def test_rouge_tokenizer_on_japanese_keeps_duplicates_which_is_why_auto_exists(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, ROWS[:2])
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--tokenizer", "rouge"])
    assert res.exit_code == 0 and "2 kept" in res.output
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--tokenizer", "auto"])
    assert res.exit_code == 0 and "1 kept" in res.output


def test_bad_tokenizer_and_broken_line_exit_2(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, ROWS[:1])
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--tokenizer", "bpe"])
    assert res.exit_code == 2 and "tokenizer" in res.output
    src.write_text('{"instruction": "a"}\n{"instruction": \n', encoding="utf-8")
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out)])
    assert res.exit_code == 2 and ":2" in res.output
    assert not out.exists()


def test_keep_best_keeps_the_highest_score_of_each_group(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": 1, "instruction": "日本の四季について説明してください。",
             "judge": {"quality": 2}},
            {"id": 2, "instruction": "Pythonでリストを逆順にする方法を教えてください。"},
            {"id": 3, "instruction": "日本の四季について説明して下さい。",
             "judge": {"quality": 5}},
            {"id": 4, "instruction": "日本の四季について説明してください！"}]  # unscored
    _write(src, rows)
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--tokenizer", "char",
                                   "--keep", "best", "--score-field", "judge.quality"])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert kept == [2, 3]  # input order, the best of the group
    rejected = {r["id"]: r["_drop"]["detail"] for r in map(
        json.loads, (tmp_path / "out.rejected.jsonl").read_text(encoding="utf-8").splitlines())}
    assert rejected[1]["similar_to"] == 3 and rejected[1]["own_score"] == 2.0
    assert rejected[1]["kept_score"] == 5.0 and rejected[4]["own_score"] is None
    # first (default) keeps the earliest instead
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--tokenizer", "char"])
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_keep_options_that_do_not_fit_exit_2(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, ROWS[:1])
    for extra, word in ((["--keep", "best"], "score"), (["--score-field", "q"], "keep best"),
                        (["--keep", "last"], "keep")):
        res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), *extra])
        assert res.exit_code == 2 and word in res.output, res.output
        assert not out.exists()


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.parametrize("method", ["exact", "minhash-lsh"])
def test_a_file_without_the_field_is_refused_like_curate(tmp_path, method):
    """No row has the compared field: the curate check's one line naming the file and the
    columns found, exit 2 and no output (was: every row dropped as missing_field, exit 0)."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, [{"prompt": f"質問 {i} について説明してください。"} for i in range(10)])
    res = run_tane("dedup", str(src), "-o", str(out), "--method", method)
    assert res.returncode == 2, res.stdout + res.stderr
    line = res.stderr.strip()
    assert line == (f"error: {src}: field 'field': no row has a column 'instruction'; "
                    "columns found: prompt; name the column to compare with --field prompt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    # the advice works
    res = run_tane("dedup", str(src), "-o", str(out), "--method", method, "--field", "prompt")
    assert res.returncode == 0, res.stderr
    assert "10 rows in" in res.stdout and "missing_field" not in res.stdout, res.stdout


def test_a_file_without_the_field_from_python(tmp_path):
    with pytest.raises(TaneError, match=r'no row has a column .instruction.*field="prompt"'):
        tane.dedup([{"prompt": "日本の四季について説明してください。"}])
