"""tane show: kept and dropped records side by side, filters, and Japanese that wraps
inside the terminal width."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from helpers import run_tane
from tane.report.show import Item, load, render, select

JA = ("東京都の人口と面積から人口密度を計算し、その結果を他の政令指定都市と比べて"
      "どのような特徴があるかを説明してください。") * 3


def write_run(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    kept = [{"id": f"k{i}", "instruction": f"{JA}{i}", "input": "", "output": "答え" * 80,
             "provenance": {"method": "self_instruct"}} for i in range(5)]
    drops = [
        {"stage": "curate", "record_id": "d1", "reason": "repetition:run",
         "detail": {"field": "output", "unit": "1.", "times": 9,
                    "record": {"output": "1. " * 9}}, "text": "次の問題を解いてください。"},
        {"stage": "curate", "record_id": "d2", "reason": "copies:input_is_instruction",
         "detail": {"equal": True, "record": {"input": JA, "output": JA}}, "text": JA},
        {"stage": "self_instruct", "record_id": None, "reason": "near_duplicate",
         "detail": {"round": 0, "max_rouge": 0.91}, "text": "似た指示です。"},
        {"stage": "answer", "record_id": "d4", "reason": "over_target", "detail": {},
         "text": "目標を超えた分"},
    ]
    (d / "dataset.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in kept), encoding="utf-8")
    (d / "rejected.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                              for r in drops), encoding="utf-8")
    return d


def rendered(width: int, kept, dropped, all_kept=None, all_dropped=None) -> list[str]:
    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False, color_system=None)
    con.print(render(all_kept or kept, all_dropped or dropped, kept, dropped))
    return buf.getvalue().splitlines()


@pytest.mark.parametrize("width", [40, 61, 80, 120])
def test_wide_characters_never_pass_the_terminal_width(width):
    kept = [Item(JA, JA[:40], JA)]
    dropped = [Item(JA, "0" * 299, "1. " * 50, stage="curate", reason="repetition:run",
                    detail={"unit": "0", "times": 299, "field": "input"})]
    lines = rendered(width, kept, dropped)
    assert len(lines) > 5
    assert max(cell_len(x) for x in lines) <= width
    body = "".join(lines)
    assert "repetition:run" in body and "東京都" in body
    # full-width characters are 2 cells: a line of them is wrapped, not cut
    assert "".join(x.strip("│ ") for x in lines).count("人口密度") >= 1


def test_run_directory_kept_and_dropped_with_reasons(tmp_path):
    kept, dropped = load(write_run(tmp_path / "run"))
    assert len(kept) == 5 and len(dropped) == 4
    d1 = dropped[0]
    assert (d1.stage, d1.reason, d1.output) == ("curate", "repetition:run", "1. " * 9)
    assert "record" not in d1.detail  # shown as fields, not as detail
    k, d = select(kept, dropped, sample=10)
    assert [x.reason for x in d] == ["repetition:run", "copies:input_is_instruction",
                                     "near_duplicate"]  # over_target only when asked
    _, d = select(kept, dropped, reason="over_target")
    assert [x.reason for x in d] == ["over_target"]


def test_filters_stage_reason_prefix_sample_and_sides(tmp_path):
    kept, dropped = load(write_run(tmp_path / "run"))
    _, d = select(kept, dropped, stage="curate")
    assert {x.stage for x in d} == {"curate"} and len(d) == 2
    _, d = select(kept, dropped, reason="copies")
    assert [x.reason for x in d] == ["copies:input_is_instruction"]
    _, d = select(kept, dropped, reason="copie")
    assert d == []  # a prefix of a reason's parts, not of its letters
    a, _ = select(kept, dropped, sample=2, seed=1)
    b, _ = select(kept, dropped, sample=2, seed=1)
    c = {tuple(x.id for x in select(kept, dropped, sample=2, seed=s)[0]) for s in range(8)}
    assert [x.id for x in a] == [x.id for x in b] and len(a) == 2 and len(c) > 1
    k, d = select(kept, dropped, show_kept=False)
    assert k == [] and d
    k, d = select(kept, dropped, show_dropped=False)
    assert d == [] and k


def test_cli_show(tmp_path):
    run = write_run(tmp_path / "run")
    res = run_tane("show", str(run), "--reason", "repetition", "--no-kept", timeout=120,
                   env={"COLUMNS": "70"})
    assert res.returncode == 0, res.stderr
    assert "5 kept, 4 dropped" in res.stdout and "repetition:run" in res.stdout
    assert "near_duplicate" not in res.stdout.split("\n", 1)[1]
    assert max(cell_len(x) for x in res.stdout.splitlines()) <= 110
    res = run_tane("show", str(tmp_path / "nothing"), timeout=120)
    assert res.returncode == 2 and "not found" in res.stderr


def test_curated_file_with_rejected_beside(tmp_path):
    data = tmp_path / "cur.jsonl"
    data.write_text(json.dumps({"instruction": "あ", "output": "い"}, ensure_ascii=False)
                    + "\n", encoding="utf-8")
    (tmp_path / "cur.rejected.jsonl").write_text(json.dumps(
        {"instruction": "う", "output": "え" * 3,
         "_drop": {"reason": "length:output_too_short", "detail": {"chars": 3}}},
        ensure_ascii=False) + "\n", encoding="utf-8")
    kept, dropped = load(data)
    assert [k.instruction for k in kept] == ["あ"]
    assert dropped[0].reason == "length:output_too_short" and dropped[0].output == "えええ"
