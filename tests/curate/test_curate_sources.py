"""`tane curate` input from Parquet, `save_to_disk` datasets, CSV, with column mapping."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tane.cli import app
from tane.curate.apply import curate_file, parse_field_map
from tane.curate.sources import read_rows
from tane.errors import TaneError

datasets = pytest.importorskip("datasets")

CONFIG = "lang: ja\nsteps:\n  - name: refusal\n  - name: exact_dup\n"
ROWS = [
    {"prompt": "日本の四季について説明してください。", "response": "春夏秋冬があります。",
     "uid": "a", "score": 3},
    {"prompt": "日本の四季について説明してください。", "response": "四つの季節があります。",
     "uid": "b", "score": 5},
    {"prompt": "在庫を確認してください。", "response": "申し訳ありませんが、お答えできません。",
     "uid": "c", "score": 1},
    {"prompt": "おすすめの本は？", "response": "『雪国』です。", "uid": "d", "score": None},
]
MAP = ["instruction=prompt", "output=response", "id=uid"]


def _jsonl(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def cfg(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG, encoding="utf-8")
    return p


def test_parquet_with_column_mapping(tmp_path, cfg):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src, out = tmp_path / "in.parquet", tmp_path / "out.jsonl"
    pq.write_table(pa.Table.from_pylist(ROWS), src)
    rep = curate_file(src, cfg, out, field_map=MAP)
    assert rep.rows_in == 4 and rep.kept == 2
    assert rep.dropped_by_reason == {"exact_dup": 1, "refusal": 1}
    kept = _jsonl(out)
    assert [r["uid"] for r in kept] == ["a", "d"]
    assert set(kept[0]) == {"prompt", "response", "uid", "score"}  # columns as they were
    rej = {r["uid"]: r["_drop"] for r in _jsonl(tmp_path / "out.rejected.jsonl")}
    assert rej["b"]["detail"]["duplicate_of"] == "a"


def test_save_to_disk_dataset_and_keep_best_by_a_column(tmp_path):
    d = tmp_path / "ds"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(d))
    cfg = tmp_path / "best.yaml"
    cfg.write_text("lang: ja\nsteps:\n  - name: exact_dup\n    keep: best\n"
                   "    score_field: score\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    rep = curate_file(d, cfg, out, field_map=MAP)
    assert rep.rows_in == 4 and rep.kept == 3
    assert [r["uid"] for r in _jsonl(out)] == ["b", "c", "d"]
    drop = _jsonl(tmp_path / "out.rejected.jsonl")[0]["_drop"]
    assert drop["detail"]["duplicate_of"] == "b" and drop["detail"]["own_score"] == 3.0


def test_dataset_dict_splits(tmp_path, cfg):
    d = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:2]),
                          "test": datasets.Dataset.from_list(ROWS[2:])}).save_to_disk(str(d))
    assert [r[2]["uid"] for r in read_rows(d)] == ["a", "b"]
    assert [r[2]["uid"] for r in read_rows(d, "test")] == ["c", "d"]
    with pytest.raises(TaneError, match="no split 'dev'; the dataset has train, test"):
        read_rows(d, "dev")
    d2 = tmp_path / "dd2"
    datasets.DatasetDict({"a": datasets.Dataset.from_list(ROWS[:1]),
                          "b": datasets.Dataset.from_list(ROWS[1:])}).save_to_disk(str(d2))
    with pytest.raises(TaneError, match="choose one with --split"):
        read_rows(d2)


def test_csv_file_and_data_file_directory(tmp_path, cfg):
    src = tmp_path / "in.csv"
    src.write_text("prompt,response,uid\n質問です。,答えです。,x\n質問です。,別の答え。,y\n",
                   encoding="utf-8")
    out = tmp_path / "out.jsonl"
    rep = curate_file(src, cfg, out, field_map=MAP)
    assert (rep.rows_in, rep.kept) == (2, 1)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "part.csv").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert [r[2]["uid"] for r in read_rows(folder)] == ["x", "y"]


def test_hub_id_and_missing_paths_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TaneError, match="does not download: save the dataset first"):
        read_rows("someone/some-dataset")
    with pytest.raises(TaneError, match="file not found"):
        read_rows(tmp_path / "nope.parquet")


@pytest.mark.parametrize("spec,msg", [
    (["instruction"], "TANE_FIELD=COLUMN"),
    (["question=prompt"], "'question' is not one of"),
    (["instruction=a", "instruction=b"], "given twice"),
])
def test_bad_field_specs(spec, msg):
    with pytest.raises(TaneError, match=msg):
        parse_field_map(spec)


def test_cli_field_mapping_and_a_column_no_row_has(tmp_path, cfg):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
                   encoding="utf-8")
    args = ["curate", str(src), "-r", str(cfg), "-o", str(out)]
    res = CliRunner().invoke(app, args + ["--field", "instruction=prompt",
                                          "--field", "output=response"])
    assert res.exit_code == 0, res.output
    assert "4 rows in, 2 kept" in res.output
    res = CliRunner().invoke(app, args + ["--field", "instruction=question"])
    assert res.exit_code == 2
    assert "no row has a column 'question'" in res.output
    out.unlink()
    res = CliRunner().invoke(app, args + ["--split", "train"])
    assert res.exit_code == 2 and "--split" in res.output and not out.exists()


def test_unreadable_dataset_is_one_line_and_writes_nothing(tmp_path, cfg):
    d = tmp_path / "broken"
    d.mkdir()
    (d / "state.json").write_text("{not json", encoding="utf-8")
    (d / "dataset_info.json").write_text("{}", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["curate", str(d), "-r", str(cfg), "-o", str(out)])
    assert res.exit_code == 2
    assert "cannot read the dataset" in res.output and str(d.name) in res.output
    assert not out.exists() and not (tmp_path / "out.rejected.jsonl").exists()


def test_cli_bad_field_fails_before_the_seeds_and_recipe_load(tmp_path):
    """A malformed --field is reported even when the seeds and recipe would fail too."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"prompt": "a"}\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", str(src), "-r", str(tmp_path / "missing.yaml"),
                                   "-o", str(out), "--seeds", str(tmp_path / "nope.jsonl"),
                                   "--field", "instruction"])
    assert res.exit_code == 2 and "TANE_FIELD=COLUMN" in res.output, res.output
    assert not out.exists()
