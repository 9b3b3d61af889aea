"""``tane eval`` on the command line: one-line errors and exit codes, no model needed."""

from __future__ import annotations

import json
import socket

import pytest

from helpers import run_tane


def one_line_error(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hand_made_evaldir(path):
    """An eval directory written by hand from the file contract (answers of one model)."""
    path.mkdir()
    (path / "eval.json").write_text(json.dumps({
        "bench": "hand", "format": "elyza", "lang": "ja", "items": 1,
        "models": {"m": {"where": "x", "model": "m", "license": None}}, "judges": {},
        "steps": {}}), encoding="utf-8")
    (path / "items.jsonl").write_text(json.dumps({
        "id": "1", "category": None, "turns": ["質問"], "reference": ["答え"],
        "eval_aspect": None, "baseline": None}, ensure_ascii=False) + "\n", encoding="utf-8")
    (path / "answers.jsonl").write_text(json.dumps({
        "item_id": "1", "model": "m", "turns": ["回答"], "finish_reason": "stop",
        "error": None, "chars": 2}, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_bad_benchmark_row_is_one_line_exit_2_and_nothing_written(tmp_path):
    bench = tmp_path / "q.jsonl"
    bench.write_text('{"question_id": 1, "turns": ["a", "b"]}\n{"question_id": 2}\n',
                     encoding="utf-8")
    res = run_tane("eval", "answer", str(bench), "--model", "x=embedded", "-o",
                   str(tmp_path / "ev"))
    assert res.returncode == 2
    assert one_line_error(res.stderr).endswith("q.jsonl:2: field 'turns': missing required "
                                               "field")
    assert not (tmp_path / "ev").exists()


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_bad_model_specs_are_one_line(tmp_path):
    for spec, want in [("http://h:8000/v1", "expected NAME=URL"),
                       ("a=http://h:8000/v1", "a server URL needs the model it serves"),
                       ("a=embedded,colour=red", "unknown option 'colour'"),
                       ("a=embedded,style=poem", "expected chat or completion"),
                       ("a=ftp://h", "expected 'embedded', a server URL")]:
        res = run_tane("eval", "answer", "bundled:elyza_ja", "--model", spec, "-o",
                       str(tmp_path / "ev"))
        assert res.returncode == 2, (spec, res.stderr)
        assert want in one_line_error(res.stderr), (spec, res.stderr)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_grade_needs_an_eval_directory_and_a_reachable_judge(tmp_path):
    res = run_tane("eval", "grade", str(tmp_path), "--judge", "embedded")
    assert res.returncode == 2 and "not an eval directory" in one_line_error(res.stderr)
    ev = hand_made_evaldir(tmp_path / "ev")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    res = run_tane("eval", "grade", str(ev), "--judge", url, "--judge-model", "judge-x",
                   "--no-progress")
    assert res.returncode == 4, res.stderr
    line = one_line_error(res.stderr)
    assert url in line and "cannot reach" in line and "judge-x" in line
    assert not (ev / "grades.jsonl").exists()
    res = run_tane("eval", "compare", str(ev), "--a", "m", "--b", "other", "--judge", url,
                   "--judge-model", "j")
    assert res.returncode == 2 and "no answers of model 'other'" in one_line_error(res.stderr)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_bad_eval_plan_is_one_line_naming_the_line(tmp_path):
    plan = tmp_path / "eval.yaml"
    plan.write_text("bench: bundled:elyza_ja\nout: ev\nmodels:\n  a: {backend: embedded}\n"
                    "judges:\n  j: {backend: embedded}\ncompare:\n  - {a: a, b: zz}\n",
                    encoding="utf-8")
    res = run_tane("eval", "run", str(plan))
    assert res.returncode == 2
    line = one_line_error(res.stderr)
    assert "compare.0.b: no model named 'zz'" in line and str(plan) in line
    plan.write_text("bench: bundled:elyza_ja\nmodels:\n  a: {backend: embedded}\n"
                    "grade: {scale: 7}\n", encoding="utf-8")
    res = run_tane("eval", "run", str(plan))
    assert res.returncode == 2
    assert f"{plan}:4: field 'grade.scale'" in one_line_error(res.stderr)
    plan.write_text("bench: bundled:elyza_ja\nmodels:\n  a: {backend: embedded, colour: 1}\n",
                    encoding="utf-8")
    res = run_tane("eval", "run", str(plan))
    assert res.returncode == 2
    assert f"{plan}:3: field 'models.a.colour': unknown key" in one_line_error(res.stderr)
    assert not (tmp_path / "ev").exists()


def test_answers_never_go_into_a_run_directory(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    res = run_tane("eval", "answer", "bundled:elyza_ja", "-m", "x=embedded", "-o", str(run))
    assert res.returncode == 2
    assert "is a tane run directory" in one_line_error(res.stderr)
    assert sorted(p.name for p in run.iterdir()) == ["manifest.json"]
