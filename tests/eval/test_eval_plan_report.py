"""The eval plan's ``report:`` section (``ja_min``, ``difficulty``: the options of
``tane eval report``) and ``grade.logprobs``: read, checked with the plan's file and line,
before any step runs. No model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_tane

from tane.errors import TaneError
from tane.eval.bench import load_bench
from tane.eval.plan import load_plan, report_options

HEAD = "bench: bundled:elyza_ja\nout: ev\nmodels:\n  a: {backend: embedded}\n"


def plan_file(tmp_path: Path, tail: str, head: str = HEAD) -> Path:
    p = tmp_path / "eval.yaml"
    p.write_text(head + tail, encoding="utf-8")
    return p


def options(p: Path) -> dict:
    plan, base = load_plan(p)
    bench = load_bench(plan.bench)
    bench.items = bench.items[:plan.limit] if plan.limit else bench.items  # as the command
    return report_options(plan, p, base, bench)


def error(p: Path) -> TaneError:
    with pytest.raises(TaneError) as ei:
        options(p)
    return ei.value


def test_report_options_under_their_command_line_names(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"item_id": "1", "difficulty": 1.5}\n', encoding="utf-8")
    p = plan_file(tmp_path, "report:\n  ja_min: 0.5\n  difficulty: d.jsonl\n")
    assert options(p) == {"ja_min": 0.5, "difficulty": tmp_path / "d.jsonl"}
    assert options(plan_file(tmp_path, "report: true\n")) == {"ja_min": None,
                                                             "difficulty": None}
    assert options(plan_file(tmp_path, "")) == {"ja_min": None, "difficulty": None}
    assert load_plan(plan_file(tmp_path, "report: false\n"))[0].report is None
    assert options(plan_file(tmp_path, "report: false\n")) == {}


@pytest.mark.parametrize("tail, line, field, words", [
    ("report:\n  ja_min: 1.5\n", 6, "report.ja_min", "less than or equal to 1"),
    ("report:\n  ja_min: 0\n", 6, "report.ja_min", "greater than 0"),
    ("report:\n  colour: red\n", 6, "report.colour", "unknown key"),
    ("report: 3\n", 5, "report", "true, false or a mapping"),
    ("report:\n  ja_min: 0.4\n  difficulty: none.jsonl\n", 7, "report.difficulty",
     "no such difficulty table"),
    ("grade: {logprobs: 30}\n", 5, "grade.logprobs", "less than or equal to 20"),
])
def test_a_bad_report_option_names_the_plans_line(tmp_path: Path, tail, line, field,
                                                   words) -> None:
    p = plan_file(tmp_path, "judges:\n  j: {backend: embedded}\n" + tail
                  if tail.startswith("grade") else tail)
    if tail.startswith("grade"):
        line += 2
    e = error(p)
    assert (e.path, e.line, e.field) == (str(p), line, field)
    assert words in str(e)


def test_ja_min_on_an_english_benchmark_and_a_bad_table(tmp_path: Path) -> None:
    p = plan_file(tmp_path, "report:\n  ja_min: 0.5\n",
                  head="bench: bundled:alpaca_eval_en\nmodels:\n  a: {backend: embedded}\n")
    e = error(p)
    assert (e.path, e.line, e.field) == (str(p), 5, "report.ja_min")
    assert "Japanese benchmarks" in str(e)
    table = tmp_path / "d.jsonl"
    table.write_text('{"item_id": "1", "difficulty": 1}\n{"item_id": "2", "difficulty": "x"}\n',
                     encoding="utf-8")
    e = error(plan_file(tmp_path, "report: {difficulty: d.jsonl}\n"))
    assert (e.path, e.line, e.field) == (str(table), 2, "difficulty")
    # with comparisons to make, every item of the benchmark needs a difficulty
    table.write_text('{"item_id": "1", "difficulty": 1}\n', encoding="utf-8")
    compare = "judges:\n  j: {backend: embedded}\ncompare:\n  - {a: a, b: a}\n"
    e = error(plan_file(tmp_path, compare + "report: {difficulty: d.jsonl}\n"))
    assert (e.path, e.field) == (str(table), "item_id") and "'2'" in str(e)
    assert options(plan_file(tmp_path, "limit: 1\n" + compare
                             + "report: {difficulty: d.jsonl}\n"))["difficulty"] == table


def test_the_command_stops_before_any_step(tmp_path: Path) -> None:
    p = plan_file(tmp_path, "report:\n  difficulty: none.jsonl\n")
    res = run_tane("eval", "run", str(p))
    assert res.returncode == 2
    assert f"{p}:6: field 'report.difficulty': no such difficulty table" in res.stderr
    assert not (tmp_path / "ev").exists()
