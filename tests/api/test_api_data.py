"""``tane.curate`` / ``tane.dedup`` / ``tane.export``: the same decisions as the file
commands, on files and on lists of dicts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import tane
from tane.curate.apply import curate_file
from tane.curate.dedup import dedup_file

ROWS = [
    {"instruction": "日本の首都はどこですか？", "output": "日本の首都は東京です。", "score": 1},
    {"instruction": "日本の首都はどこですか？", "output": "東京です。", "score": 5},
    {"instruction": "短い", "output": "はい。", "score": 2},
    {"instruction": "富士山の高さを教えてください。", "output": "3776メートルです。", "score": 3},
    {"instruction": "富士山の高さを教えて下さい。", "output": "約3776mです。", "score": 4},
    {"instruction": "申し訳ありませんが、この質問にはお答えできません。",
     "output": "申し訳ありませんが、お答えできません。", "score": 0},
    {"instruction": 7, "output": "数字"},
]
STEPS = [{"name": "length", "instruction_min": 5}, {"name": "refusal"},
         {"name": "near_dup", "threshold": 0.7}]


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def _yaml(path: Path, steps, lang="ja") -> Path:
    path.write_text(json.dumps({"lang": lang, "steps": steps}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def test_curate_a_list_decides_as_tane_curate_on_the_file(tmp_path):
    ref = curate_file(_write(tmp_path / "in.jsonl", ROWS), _yaml(tmp_path / "c.yaml", STEPS),
                      tmp_path / "ref.jsonl")
    res = tane.curate(ROWS, STEPS)
    assert res.rows_in == ref.rows_in == len(ROWS)
    assert res.dropped_by_reason == ref.dropped_by_reason
    assert res.kept == _read(tmp_path / "ref.jsonl")
    assert all(any(k is r for r in ROWS) for k in res.kept), "the caller's own dicts"
    assert res.dropped == _read(tmp_path / "ref.rejected.jsonl")
    assert res.out_path is None and res.kept_count == len(res.kept)
    assert not list(Path.cwd().glob("tane-*")), "no temporary files left behind"


def test_every_form_of_steps_gives_the_same_result(tmp_path):
    from tane.recipe import CurateStage

    path = _write(tmp_path / "in.jsonl", ROWS)
    forms = [STEPS, {"lang": "ja", "steps": STEPS}, _yaml(tmp_path / "c.yaml", STEPS),
             str(tmp_path / "c.yaml"), CurateStage(method="curate", steps=STEPS)]
    results = [tane.curate(path, f) for f in forms]
    assert all(r.dropped_by_reason == results[0].dropped_by_reason for r in results)
    assert all(r.kept == results[0].kept for r in results)
    assert results[0].dropped_by_reason == {"length:instruction_too_short": 1,
                                            "missing_field": 1, "near_dup": 2, "refusal": 1}


def test_curate_with_output_writes_the_files_of_tane_curate(tmp_path):
    path = _write(tmp_path / "in.jsonl", ROWS)
    res = tane.curate(path, STEPS, output=tmp_path / "out.jsonl")
    ref = curate_file(path, _yaml(tmp_path / "c.yaml", STEPS), tmp_path / "ref.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert ((tmp_path / "out.rejected.jsonl").read_bytes()
            == (tmp_path / "ref.rejected.jsonl").read_bytes())
    assert res.out_path == tmp_path / "out.jsonl" and len(res.kept) == ref.kept

    listed = tane.curate(ROWS, STEPS, output=tmp_path / "from_list.jsonl")
    assert _read(tmp_path / "from_list.jsonl") == listed.kept == _read(tmp_path / "ref.jsonl")
    assert _read(tmp_path / "from_list.rejected.jsonl") == listed.dropped


def test_curate_maps_columns_and_takes_seeds(tmp_path):
    other = [{"prompt": r["instruction"], "response": r["output"]} for r in ROWS]
    res = tane.curate(other, STEPS, fields={"instruction": "prompt", "output": "response"})
    assert res.dropped_by_reason == tane.curate(ROWS, STEPS).dropped_by_reason
    from tane.seeds.loader import load_seeds

    seed = load_seeds("bundled:ja")[0]
    rows = [{"instruction": seed.instruction, "output": "x"},
            {"instruction": "まったく新しい独自の指示文です。", "output": "y"}]
    res = tane.curate(rows, [{"name": "seed_copy"}], seeds="bundled:ja")
    assert [d["_drop"]["reason"] for d in res.dropped] == ["seed_copy"]
    assert res.kept == [rows[1]]


def test_curate_errors_name_the_step_or_the_row(tmp_path):
    with pytest.raises(tane.TaneError) as e:
        tane.curate(ROWS, [{"name": "length", "instruction_min": -1}])
    assert e.value.field.startswith("steps.0") and e.value.path is None
    with pytest.raises(tane.TaneError) as e:
        tane.curate(ROWS, [{"name": "nope"}])
    assert e.value.field == "steps.0.name" and "length" in e.value.message
    with pytest.raises(tane.TaneError) as e:
        tane.curate(ROWS, STEPS, lang="xx")
    assert e.value.field == "lang"
    with pytest.raises(tane.TaneError) as e:
        tane.curate([{"instruction": "ok"}, {"when": date(2020, 1, 1)}], STEPS)
    assert (e.value.path, e.value.line) == ("<rows>", 2)
    with pytest.raises(tane.TaneError) as e:
        tane.curate(ROWS, STEPS, fields={"instruction": "prompt"})
    assert e.value.path == "<rows>" and "prompt" in e.value.message
    with pytest.raises(tane.TaneError) as e:
        tane.curate([{"prompt": "日本の首都はどこですか？"}], STEPS)
    assert "columns found: prompt;" in e.value.message      # not the positions' column
    assert 'fields={"instruction": "prompt"}' in e.value.message  # the API's words
    with pytest.raises(tane.TaneError) as e:
        tane.curate(tmp_path / "none.jsonl", STEPS)
    assert e.value.path == str(tmp_path / "none.jsonl")
    with pytest.raises(tane.TaneError):
        tane.curate(ROWS, STEPS, output=tmp_path / "no/such/dir/out.jsonl")
    assert not (tmp_path / "no").exists()


def test_dedup_a_list_decides_as_tane_dedup_on_the_file(tmp_path):
    rows = [r for r in ROWS if isinstance(r["instruction"], str)]
    path = _write(tmp_path / "in.jsonl", rows)
    for kw in ({}, {"keep": "best", "score_field": "score"}, {"threshold": 0.95},
               {"field": "output", "tokenizer": "char"}):
        ref = dedup_file(path, tmp_path / "ref.jsonl", **kw)
        res = tane.dedup(rows, **kw)
        assert res.dropped_by_reason == ref.dropped_by_reason, kw
        assert res.kept == _read(tmp_path / "ref.jsonl"), kw
        assert res.dropped == _read(tmp_path / "ref.rejected.jsonl"), kw
        assert res.tokenizer == ref.tokenizer
    best = tane.dedup(rows, keep="best", score_field="score")
    assert best.kept[0]["output"] == "東京です。"  # score 5 beats score 1


def test_dedup_reports_progress_and_files(tmp_path):
    calls = []
    path = _write(tmp_path / "in.jsonl", [r for r in ROWS if isinstance(r["instruction"], str)])
    res = tane.dedup(path, output=tmp_path / "d.jsonl",
                     progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert res.kept == _read(tmp_path / "d.jsonl")
    assert res.rejected_path == tmp_path / "d.rejected.jsonl"
    with pytest.raises(tane.TaneError) as e:
        tane.dedup(ROWS, keep="best")
    assert e.value.field == "score_field"


def test_export_is_tane_export(tmp_path):
    src = _write(tmp_path / "in.jsonl", [r for r in ROWS if isinstance(r["instruction"], str)])
    run = tane.run({"name": "exp", "source": {"path": str(src)},
                    "stages": [{"method": "curate", "steps": [{"name": "exact_dup"}]}]},
                   out=tmp_path / "run")
    rep = tane.export(run, format="alpaca", to=tmp_path / "x/data.jsonl", val_ratio=0.5)
    assert sum(rep.counts.values()) == run.kept == 5
    for split, path in rep.files.items():
        rows = _read(path)
        assert len(rows) == rep.counts[split] and set(rows[0]) >= {"instruction", "output"}
    assert rep.dataset_info and rep.card and rep.card.exists()
    with pytest.raises(tane.TaneError) as e:
        tane.export(run, format="csv", to=tmp_path / "y.jsonl")
    assert e.value.field == "format"
    with pytest.raises(tane.TaneError, match="HF_TOKEN"):
        tane.export(run, format="messages", to=tmp_path / "z/data.jsonl",
                    push_to_hub="someone/data")
    assert not (tmp_path / "z").exists(), "the push is checked before anything is written"


def test_dedup_minhash_lsh_decides_as_tane_dedup_method_minhash_lsh(tmp_path):
    pytest.importorskip("datasketch")
    from tane.curate.lsh import LSHParams
    from tane.curate.lsh_dedup import LSHOptions, dedup_file_lsh

    rows = [r for r in ROWS if isinstance(r["instruction"], str)] * 2
    path = _write(tmp_path / "in.jsonl", rows)
    ref = dedup_file_lsh(path, tmp_path / "ref.jsonl",
                         opts=LSHOptions(exact=True, params=LSHParams(bands=16, rows=4)))
    res = tane.dedup(rows, method="minhash-lsh", lsh={"exact": True, "bands": 16})
    assert res.dropped_by_reason == ref.dropped_by_reason
    assert sum(ref.dropped_by_reason.values()) >= 6, "every repeated row is dropped"
    assert res.kept == _read(tmp_path / "ref.jsonl")
    assert res.dropped == _read(tmp_path / "ref.rejected.jsonl")
    for bad, where in (({"method": "lsh"}, "method"), ({"lsh": {"bands": 8}}, "lsh"),
                       ({"method": "minhash-lsh", "lsh": {"band": 8}}, "lsh")):
        with pytest.raises(tane.TaneError) as e:
            tane.dedup(rows, **bad)
        assert e.value.field == where
