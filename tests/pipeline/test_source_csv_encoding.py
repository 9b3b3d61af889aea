"""A recipe's ``source:`` (and ``tane curate``) read CSV as the seeds do: UTF-8 with or
without a BOM, or CP932 as Japanese Excel saves it; a file that is none of these is one
line naming the file and the line, and nothing is written."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from helpers import run_tane

ROWS = [("日本の首都はどこですか。", "", "東京です。"),
        ("次の文を丁寧語にしてください。", "明日行く。", "明日参ります。"),
        ("①から③の数字を足してください。", "①②③", "六です。")]  # ① is CP932-only (NEC)


def _csv(path: Path, encoding: str, bom: bool = False, sep: str = ",") -> Path:
    lines = [sep.join(("question", "context", "answer"))]
    lines += [sep.join(f'"{c}"' if c else "" for c in row) for row in ROWS]
    data = "\r\n".join(lines).encode(encoding) + b"\r\n"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def _recipe(d: Path, name: str) -> Path:
    rec = d / "recipe.yaml"
    rec.write_text(f"name: csv-source\nsource: {{path: {name}, fields: {{instruction: question, "
                   "input: context, output: answer}}\nstages:\n  - method: curate\n"
                   "    steps:\n      - {name: length, instruction_min: 1}\n",
                   encoding="utf-8")
    return rec


def _dataset(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "dataset.jsonl").read_text(encoding="utf-8")
            .splitlines()]


@pytest.mark.parametrize("encoding,bom,name", [("cp932", False, "excel.csv"),
                                               ("utf-8", True, "bom.csv"),
                                               ("cp932", False, "excel.tsv")])
def test_a_csv_source_is_read_in_its_encoding(tmp_path, encoding, bom, name):
    _csv(tmp_path / name, encoding, bom, "\t" if name.endswith(".tsv") else ",")
    rec = _recipe(tmp_path, name)
    run = tmp_path / "run"
    res = run_tane("run", str(rec), "--out", str(run), "--no-progress")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Generating" not in res.stderr and "Error" not in res.stderr, res.stderr
    got = [(r["instruction"], r["input"], r["output"]) for r in _dataset(run)]
    assert got == ROWS


def test_tane_curate_reads_a_cp932_csv(tmp_path):
    src = _csv(tmp_path / "excel.csv", "cp932")
    cfg = tmp_path / "curate.yaml"
    cfg.write_text("lang: ja\nsteps:\n  - {name: length, instruction_min: 1}\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = run_tane("curate", str(src), "--recipe", str(cfg), "-o", str(out),
                   "--field", "instruction=question", "--field", "output=answer")
    assert res.returncode == 0, res.stderr[-3000:]
    kept = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["question"], r["answer"]) for r in kept] == [(q, a) for q, _, a in ROWS]


def test_a_csv_in_no_known_encoding_names_the_file_and_line(tmp_path):
    src = _csv(tmp_path / "bad.csv", "utf-8")
    data = src.read_bytes().split(b"\r\n")
    data[2] = data[2] + b"\xff\xfe"  # line 3: bytes neither UTF-8 nor CP932
    src.write_bytes(b"\r\n".join(data))
    rec = _recipe(tmp_path, "bad.csv")
    run = tmp_path / "run"
    res = run_tane("run", str(rec), "--out", str(run), "--no-progress")
    assert res.returncode == 2, res.stderr[-3000:]
    errors = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    assert str(src) in errors[0] and "line 3" in errors[0] and "source" in errors[0]
    assert "Traceback" not in res.stderr and "Generating" not in res.stderr
    assert not run.exists()
