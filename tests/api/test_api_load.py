"""``tane.load``: a run directory or a curated file, and a real ``datasets.Dataset``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tane


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture()
def run_dir(tmp_path):
    rows = [{"instruction": f"質問{i}: 日本について教えてください。", "output": f"答え{i}。"}
            for i in range(6)] + [{"instruction": "短い", "output": "x"},
                                  {"instruction": "質問0: 日本について教えてください。",
                                   "output": "重複"}]
    src = _jsonl(tmp_path / "rows.jsonl", rows)
    tane.run({"name": "load", "source": {"path": str(src)},
              "stages": [{"method": "curate", "steps": [{"name": "length"},
                                                        {"name": "exact_dup"}]}]},
             out=tmp_path / "run")
    return tmp_path / "run"


def test_load_reads_every_file_of_a_run(run_dir):
    rec = tane.load(run_dir)
    kept = [json.loads(x) for x in (run_dir / "dataset.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert rec.kept == kept == list(rec) and len(rec) == 6 and rec[0] == kept[0]
    assert rec[1:3] == kept[1:3]
    assert [d["reason"] for d in rec.dropped] == ["length:instruction_too_short",
                                                  "exact_dup"]
    assert rec.stats["kept"] == 6 and rec.manifest["status"] == "complete"
    assert rec.drop_reasons == {"curate:length:instruction_too_short": 1,
                                "curate:exact_dup": 1}
    assert "kept=6, dropped=2" in repr(rec)


def test_to_dataset_is_a_real_dataset_with_provenance_as_a_struct(run_dir):
    datasets = pytest.importorskip("datasets")
    rec = tane.load(run_dir)
    ds = rec.to_dataset()
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == 6
    assert ds.column_names == ["id", "instruction", "input", "output", "provenance"]
    assert ds["instruction"] == [r["instruction"] for r in rec]
    assert ds.filter(lambda r: r["provenance"]["row"] > 3).num_rows == 3
    as_text = rec.to_dataset(nested="json")
    assert json.loads(as_text[0]["provenance"]) == rec[0]["provenance"]
    drops = rec.to_dataset("dropped")
    assert drops.num_rows == 2 and drops["reason"] == [d["reason"] for d in rec.dropped]


def test_columns_arrow_cannot_type_become_json_text(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"instruction": "a", "detail": {"n": 1}, "tags": ["x"]},
            {"instruction": "b", "detail": {"n": "one"}, "extra": 2},
            {"instruction": "c", "detail": {}, "tags": []}]
    ds = tane.load(_jsonl(tmp_path / "curated.jsonl", rows)).to_dataset()
    assert isinstance(ds, datasets.Dataset)
    assert ds["detail"] == ['{"n": 1}', '{"n": "one"}', "{}"]   # int and str: text
    assert ds["tags"] == [["x"], None, []] and ds["extra"] == [None, 2, None]


def test_load_reads_a_curated_file_with_its_drops(tmp_path):
    rows = [{"instruction": "十分に長い指示です。"}, {"instruction": "短"}]
    res = tane.curate(_jsonl(tmp_path / "in.jsonl", rows), [{"name": "length"}],
                      output=tmp_path / "out.jsonl")
    rec = tane.load(res.out_path)
    assert rec.kept == rows[:1] and rec.dropped == res.dropped and rec.stats is None
    assert rec.drop_reasons == {"length:instruction_too_short": 1}


def test_load_errors_say_what_is_missing(tmp_path):
    with pytest.raises(tane.TaneError, match="not found"):
        tane.load(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half/manifest.json").write_text('{"status": "interrupted"}')
    with pytest.raises(tane.TaneError, match="interrupted"):
        tane.load(tmp_path / "half")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/dataset.jsonl").write_text('{"id": 1}\n{oops\n')
    with pytest.raises(tane.TaneError) as e:
        tane.load(tmp_path / "bad")
    assert e.value.line == 2 and e.value.path.endswith("dataset.jsonl")
    with pytest.raises(tane.TaneError) as e:
        tane.load(_jsonl(tmp_path / "ok.jsonl", [{"a": 1}])).to_dataset("all")
    assert e.value.field == "which"
