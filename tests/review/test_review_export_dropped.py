"""``tane review export --include-dropped`` on a real run directory (a ``source:`` run
through a curate stage, no model): each dropped row carries the instruction, input and
output the pipeline dropped, for a curate drop and for a record cut by the target after
the last stage."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tane.api.run import run
from tane.review import export_review

ROWS = [
    {"instruction": "日本の首都はどこですか。", "output": "日本の首都は東京です。"},
    {"instruction": "富士山の高さを教えてください。", "input": "富士山について",
     "output": "富士山について"},
    {"instruction": "一番大きい湖はどこですか。", "output": "琵琶湖が日本で一番大きい湖です。"},
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dropped")
    (tmp / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                          for r in ROWS), encoding="utf-8")
    recipe = {"name": "src", "target": 1, "source": {"path": "in.jsonl"},
              "stages": [{"method": "curate", "lang": "ja", "steps": [{"name": "copies"}]}]}
    run(recipe, tmp / "run", base_dir=tmp)
    return tmp / "run"


def exported(run_dir: Path, out: Path) -> dict[str, dict[str, str]]:
    path = export_review(run_dir, out, include_dropped=True).path
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    head = next(i for i, r in enumerate(rows) if r and r[0] == "id")
    cols = rows[head]
    return {r[0]: dict(zip(cols, r)) for r in rows[head + 1:] if r}


def test_dropped_rows_carry_their_fields(run_dir, tmp_path):
    rows = exported(run_dir, tmp_path / "review.csv")
    dropped = {r["drop_reason"]: r for k, r in rows.items() if k.startswith("rejected:")}
    assert set(dropped) == {"copies:output_is_input", "over_target"}, rows
    copy = dropped["copies:output_is_input"]
    assert (copy["instruction"], copy["input"], copy["output"]) == (
        ROWS[1]["instruction"], ROWS[1]["input"], ROWS[1]["output"])
    cut = dropped["over_target"]
    assert (cut["instruction"], cut["input"], cut["output"]) == (
        ROWS[2]["instruction"], "", ROWS[2]["output"])
