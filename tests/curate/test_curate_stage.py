"""The curate stage (curate/stage.py) and `tane curate` (curate/apply.py, cli.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from tane.cli import app
from tane.curate.apply import curate_file
from tane.methods.curate import CurateStage
from tane.errors import TaneError
from tane.methods.base import StageContext, StageStats
from tane.recipe import CurateStage as CurateConfig
from tane.schema import Provenance, Record
from tane.seeds.formats import Seed


def _cfg(steps, lang="ja"):
    return CurateConfig.model_validate({"method": "curate", "lang": lang, "steps": steps})


def _ctx(seeds=()):
    return StageContext("curate", None, StageStats("curate"), list(seeds), 0)  # type: ignore[arg-type]


def _rec(i, inst, out=None, **prov):
    return Record(id=f"r{i}", instruction=inst, output=out,
                  provenance=Provenance(method="self_instruct", **prov))


def _process(stage, records):
    return asyncio.run(stage.process(records))


GOOD = "日本には春夏秋冬の四季があり、季節ごとに景色が大きく変わります。"


def test_stage_drops_at_first_failing_step_and_keeps_order():
    ctx = _ctx()
    stage = CurateStage(_cfg([{"name": "refusal"}, {"name": "truncated"},
                              {"name": "exact_dup"}]), ctx)
    recs = [_rec(0, "日本の四季を説明してください。", GOOD),
            _rec(1, "個人情報を教えてください。", "申し訳ありませんが、そのご質問にはお答えできません。"),
            _rec(2, "在庫はありますか。", "申し訳ありませんが、在庫は明日入荷します。"),
            _rec(3, "東京について説明してください。", GOOD,
                 steps=[{"step": "answer", "finish_reason": "length"}]),
            _rec(4, "日本の四季を説明してください。", "別の答えです。"),
            _rec(5, "おすすめの本を教えてください。", None)]
    batch = _process(stage, recs)
    assert [r.id for r in batch.records] == ["r0", "r2", "r5"]
    got = {d.record_id: d.reason for d in batch.drops}
    assert got == {"r1": "refusal", "r3": "truncated:finish_reason", "r4": "exact_dup"}
    dup = next(d for d in batch.drops if d.record_id == "r4")
    assert dup.stage == "curate" and dup.detail["duplicate_of"] == "r0"
    assert dup.text == "日本の四季を説明してください。"
    assert len(batch.records) + len(batch.drops) == 6  # every record kept or dropped


def test_dedup_state_lasts_across_process_calls():
    stage = CurateStage(_cfg([{"name": "exact_dup"},
                              {"name": "near_dup", "tokenizer": "char"}]), _ctx())
    first = _process(stage, [_rec(0, "日本の四季について説明してください。"),
                             _rec(1, "Pythonでリストを逆順にする方法を教えてください。")])
    assert [r.id for r in first.records] == ["r0", "r1"]
    second = _process(stage, [_rec(2, "日本の四季について説明してください。"),
                              _rec(3, "日本の四季について説明して下さい。"),
                              _rec(4, "おすすめの本を三冊紹介してください。")])
    assert [r.id for r in second.records] == ["r4"]
    assert [(d.record_id, d.reason) for d in second.drops] == [("r2", "exact_dup"),
                                                              ("r3", "near_dup")]
    assert second.drops[1].detail["similar_to"] == "r0"
    assert len(first.records) + len(second.records) + len(second.drops) == 5


def test_a_record_dropped_later_is_not_remembered_by_dedup():
    stage = CurateStage(_cfg([{"name": "exact_dup"}, {"name": "refusal"}]), _ctx())
    batch = _process(stage, [
        _rec(0, "秘密を教えてください。", "申し訳ありませんが、そのご質問にはお答えできません。"),
        _rec(1, "秘密を教えてください。", "秘密はありません。")])
    assert [r.id for r in batch.records] == ["r1"]
    assert [d.reason for d in batch.drops] == ["refusal"]


def test_seed_copy_uses_ctx_seeds():
    seeds = [Seed(id="s1", instruction="日本の四季について説明してください。",
                  instances=[{"input": "", "output": "春夏秋冬です。"}])]
    stage = CurateStage(_cfg([{"name": "seed_copy"}]), _ctx(seeds))
    batch = _process(stage, [_rec(0, "日本の四季について説明して下さい。"),
                             _rec(1, "おすすめの本を三冊紹介してください。")])
    assert [r.id for r in batch.records] == ["r1"]
    assert batch.drops[0].reason == "seed_copy" and batch.drops[0].detail["seed_id"] == "s1"


@pytest.mark.parametrize("steps,lang,field", [
    ([{"name": "length"}, {"name": "no_such_step"}], "ja", "steps.1.name"),
    ([{"name": "near_dup", "threshold": 1.5}], "ja", "steps.0.threshold"),
    ([{"name": "refusal", "max_char": 10}], "ja", "steps.0.max_char"),
    ([{"name": "exact_dup", "fields": "title"}], "ja", "steps.0.fields"),
    ([{"name": "meta_text", "extra_patterns": ["(unclosed"]}], "ja", "steps.0.extra_patterns"),
    ([{"name": "near_dup", "tokenizer": "bpe"}], "ja", "steps.0.tokenizer"),
    ([{"name": "script_ratio"}], "en", "steps.0.name"),
    ([{"name": "seed_copy"}], "ja", "steps.0.name"),  # no seeds
])
def test_stage_config_errors_name_the_field(steps, lang, field):
    with pytest.raises(TaneError) as exc:
        CurateStage(_cfg(steps, lang), _ctx())
    assert exc.value.field == field
    assert f"field '{field}'" in exc.value.one_line()


def test_lang_any_runs_ja_steps_on_japanese_rows_only():
    stage = CurateStage(_cfg([{"name": "mixed_language"}, {"name": "length"}], "any"), _ctx())
    batch = _process(stage, [
        _rec(0, "日本の四季を説明してください。", "这是一个很好的问题，我们来看看。"),
        _rec(1, "Explain the four seasons in Japan.",
             "Japan has four seasons: spring, summer, autumn and winter."),
        _rec(2, "Explain.", "Fine.")])
    assert [r.id for r in batch.records] == ["r1"]
    assert [d.reason for d in batch.drops] == ["mixed_language:chinese",
                                               "length:instruction_too_short"]


# -- tane curate ------------------------------------------------------------------

ROWS = [
    {"id": 1, "instruction": "日本の四季について説明してください。", "output": GOOD},
    {"id": 2, "instruction": "日本の四季について説明してください。", "output": "別の答えです。"},
    {"id": 3, "instruction": "個人情報を教えてください。",
     "output": "申し訳ありませんが、そのご質問にはお答えできません。"},
    {"id": 4, "instruction": "在庫はありますか。", "output": "申し訳ありませんが、在庫は明日入荷します。"},
    {"id": 5, "instruction": "東京について教えてください。", "output": "もちろん！東京は日本の首都です。"},
    {"id": 6, "instruction": "中国語で答えないでください。", "output": "这是一个很好的问题，我们来看看。"},
    {"id": 7, "output": "instruction がない行"},
    {"id": 8, "instruction": "おすすめの本を教えてください。", "input": "", "output": None},
]

CONFIG = """\
lang: ja
steps:
  - name: length
  - name: meta_text
  - name: refusal
    max_chars: 200
  - name: mixed_language
  - name: exact_dup
"""


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def _jsonl(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_tane_curate_end_to_end(tmp_path):
    src, cfg, out = tmp_path / "in.jsonl", tmp_path / "curate.yaml", tmp_path / "out.jsonl"
    _write(src, ROWS)
    cfg.write_text(CONFIG, encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", str(src), "--recipe", str(cfg), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "8 rows in, 3 kept, 5 dropped" in res.output
    for line in ("exact_dup: 1", "refusal: 1", "meta_text:opener: 1",
                 "mixed_language:chinese: 1", "missing_field: 1"):
        assert line in res.output
    kept_lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in kept_lines] == [1, 4, 8]
    assert kept_lines[0] == json.dumps(ROWS[0], ensure_ascii=False)  # unchanged, not escaped
    rejected = _jsonl(tmp_path / "out.rejected.jsonl")
    by_id = {r["id"]: r["_drop"] for r in rejected}
    assert by_id[2] == {"reason": "exact_dup", "detail": {"fields": "instruction",
                                                          "duplicate_of": 1}}
    assert by_id[3]["reason"] == "refusal" and by_id[3]["detail"]["predicate"]
    assert by_id[5]["detail"]["match"] == "もちろん！"
    assert by_id[7] == {"reason": "missing_field",
                        "detail": {"field": "instruction", "found": None}}
    raw = (tmp_path / "out.rejected.jsonl").read_text(encoding="utf-8")
    assert "申し訳ありません" in raw and "\\u" not in raw
    assert not list(tmp_path.glob(".*.tmp"))


def test_tane_curate_example_recipe_runs(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "recipes" / "curate_ja.yaml"
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(src, ROWS)
    rep = curate_file(src, example, out)
    assert rep.rows_in == 8 and rep.kept == 3
    assert sum(rep.dropped_by_reason.values()) == 5


def test_tane_curate_seeds_option(tmp_path):
    src, cfg, out = tmp_path / "in.jsonl", tmp_path / "c.yaml", tmp_path / "out.jsonl"
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"instruction": "日本の四季について説明してください。",
                                 "output": "春夏秋冬です。"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    _write(src, ROWS[:1] + ROWS[3:4])
    cfg.write_text("lang: ja\nsteps:\n  - name: seed_copy\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", str(src), "-r", str(cfg), "-o", str(out),
                                   "--seeds", str(seeds)])
    assert res.exit_code == 0, res.output
    assert "seed_copy: 1" in res.output
    res = CliRunner().invoke(app, ["curate", str(src), "-r", str(cfg), "-o", str(out)])
    assert res.exit_code == 2 and "steps.0.name" in res.output and "seeds" in res.output


@pytest.mark.parametrize("text,line,field", [
    ("lang: ja\nsteps:\n  - name: length\n  - name: nope\n", 4, "steps.1.name"),
    ("lang: ja\nsteps:\n  - name: near_dup\n    threshold: 2\n", 4, "steps.0.threshold"),
    ("lang: ja\nsteps:\n  - name: refusal\n    max_char: 10\n", 4, "steps.0.max_char"),
    ("lang: fr\nsteps:\n  - name: length\n", 1, "lang"),
    ("lang: ja\nmethod: curate\nsteps:\n  - name: length\n", 2, "method"),
])
def test_tane_curate_bad_config_exits_2_naming_the_field(tmp_path, text, line, field):
    src, cfg, out = tmp_path / "in.jsonl", tmp_path / "bad.yaml", tmp_path / "out.jsonl"
    _write(src, ROWS)
    cfg.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", str(src), "--recipe", str(cfg), "-o", str(out)])
    assert res.exit_code == 2
    assert f"bad.yaml:{line}: field '{field}'" in res.output
    assert not out.exists()


def test_tane_curate_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    src, cfg, out = tmp_path / "in.parquet", tmp_path / "c.yaml", tmp_path / "out.jsonl"
    rows = [{"instruction": r["instruction"], "output": r["output"]} for r in ROWS[:4]]
    pq.write_table(pa.Table.from_pylist(rows), src)
    cfg.write_text(CONFIG, encoding="utf-8")
    rep = curate_file(src, cfg, out)
    assert rep.rows_in == 4 and rep.kept == 2
    assert rep.dropped_by_reason == {"exact_dup": 1, "refusal": 1}
    assert _jsonl(out)[1]["output"] == "申し訳ありませんが、在庫は明日入荷します。"
