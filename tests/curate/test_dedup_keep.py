"""Dedup steps: keep first or best-scored, compared text (instruction/output/both), one
ranking per stage."""

from __future__ import annotations

import asyncio

import pytest

from tane.curate.stage import build_steps, run_batch
from tane.methods.curate import CurateStage
from tane.curate.steps import Fields, make_step, rank_order
from tane.errors import TaneError
from tane.methods.base import StageContext, StageStats
from tane.recipe import CurateStage as CurateConfig
from tane.schema import Provenance, Record


def judged(i, inst, q=None, out=None):
    prov = {"judge": {"quality": q}} if q is not None else {}
    return Fields(instruction=inst, output=out, provenance=prov, id=i)


def reasons(res):
    return [None if r is None else r[0] for r in res]


def test_rank_order_is_score_descending_stable_unscored_last():
    steps = [make_step("exact_dup", "ja", keep="best", score_field="judge.quality")]
    batch = [judged(0, "a", 3), judged(1, "b"), judged(2, "c", 5), judged(3, "d", 3),
             judged(4, "e", 4.5), judged(5, "f")]
    assert rank_order(steps, batch) == [2, 4, 0, 3, 1, 5]
    assert rank_order([make_step("exact_dup", "ja")], batch) == list(range(6))


def test_exact_dup_keep_best_keeps_the_best_of_each_group():
    step = make_step("exact_dup", "ja", keep="best", score_field="judge.quality")
    batch = [judged(0, "日本の 四季", 2), judged(1, "別の質問", None),
             judged(2, "日本の　四季", 5), judged(3, "日本の四季", 4),
             judged(4, "別の質問", 1), judged(5, "日本の 四季", 5)]
    res = run_batch([step], batch)
    # group 1: ids 0, 2, 5 (normalised equal); best 5.0, tie 2 vs 5 -> the earlier (2)
    assert reasons(res) == ["exact_dup", "exact_dup", None, None, None, "exact_dup"]
    assert res[0][1]["duplicate_of"] == 2 and res[5][1]["duplicate_of"] == 2
    assert res[0][1]["kept_score"] == 5.0
    assert res[0][1]["own_score"] == 2.0
    # group 2: scored 1 beats unscored
    assert res[1][1]["duplicate_of"] == 4 and res[1][1]["own_score"] is None
    first = run_batch([make_step("exact_dup", "ja")], batch)
    assert reasons(first) == [None, None, "exact_dup", None, "exact_dup", "exact_dup"]


@pytest.mark.parametrize("name,params", [("near_dup", {"tokenizer": "char"}),
                                         ("minhash_dup", {"threshold": 0.5})])
def test_similarity_steps_keep_best(name, params):
    if name == "minhash_dup":
        pytest.importorskip("datasketch")
    texts = ["日本の四季について詳しく説明してください。", "日本の四季について詳しく説明して下さい。",
             "おすすめの本を三冊紹介してください。"]
    batch = [judged(0, texts[0], 2), judged(1, texts[1], 4), judged(2, texts[2], 1)]
    best = run_batch([make_step(name, "ja", keep="best", score_field="judge.quality",
                                **params)], batch)
    assert reasons(best) == [name, None, None]
    assert best[0][1]["similar_to"] == 1 and best[0][1]["kept_score"] == 4.0
    first = run_batch([make_step(name, "ja", **params)], batch)
    assert reasons(first) == [None, name, None]


def test_score_field_reads_row_columns_and_ignores_non_numbers():
    step = make_step("exact_dup", "en", keep="best", score_field="meta.score")
    rows = [{"instruction": "q", "meta": {"score": "9"}}, {"instruction": "q", "meta":
            {"score": 0.5}}, {"instruction": "q", "meta": {"score": True}}]
    batch = [Fields(instruction=r["instruction"], id=i, row=r) for i, r in enumerate(rows)]
    res = run_batch([step], batch)
    assert reasons(res) == ["exact_dup", None, "exact_dup"]
    assert res[0][1]["own_score"] is None and res[2][1]["own_score"] is None


def test_near_dup_on_output_and_both():
    rows = [("Name a fruit.", "An apple is a common red fruit."),
            ("Tell me one fruit.", "An apple is a common red fruit!"),
            ("Name a fruit.", "Bananas are long and yellow."),
            ("Name a fruit.", None)]
    batch = [Fields(instruction=i, output=o, id=n) for n, (i, o) in enumerate(rows)]
    out = run_batch([make_step("near_dup", "en", field="output")], batch)
    assert reasons(out) == [None, "near_dup", None, None]
    assert out[1][1]["field"] == "output"
    batch = [Fields(instruction=i, output=o, id=n) for n, (i, o) in enumerate(rows)]
    both = run_batch([make_step("near_dup", "en", field="both", threshold=0.8)], batch)
    # instruction + output together: row 1 differs in its instruction, row 2 in its output
    assert reasons(both) == [None, None, None, None]
    batch = [Fields(instruction=i, output=o, id=n) for n, (i, o) in enumerate(rows)]
    both = run_batch([make_step("near_dup", "en", field="both", threshold=0.6)], batch)
    assert reasons(both)[1] == "near_dup" and reasons(both)[3] is None


@pytest.mark.parametrize("steps,field,msg", [
    ([{"name": "exact_dup", "keep": "best"}], "steps.0.score_field", "needs score_field"),
    ([{"name": "near_dup", "score_field": "q"}], "steps.0.score_field", "only with keep"),
    ([{"name": "exact_dup"}, {"name": "near_dup", "keep": "best", "score_field": "q"}],
     "steps.1.keep", "keep the same way"),
    ([{"name": "exact_dup", "keep": "best", "score_field": "a"},
      {"name": "near_dup", "keep": "best", "score_field": "b"}], "steps.1.keep", "best by a"),
    ([{"name": "near_dup", "keep": "largest"}], "steps.0.keep", "first"),
])
def test_keep_config_errors_name_the_field(steps, field, msg):
    with pytest.raises(TaneError) as e:
        build_steps("ja", steps)
    assert e.value.field == field and msg in e.value.message


def _rec(i, inst, q):
    return Record(id=f"r{i}", instruction=inst, output="答え。",
                  provenance=Provenance(method="test", judge={"quality": q}))


def test_stage_keep_best_within_a_round_and_earlier_rounds_stay_kept():
    cfg = CurateConfig(method="curate", lang="ja", steps=[
        {"name": "exact_dup", "keep": "best", "score_field": "judge.quality"}])
    ctx = StageContext("curate", None, StageStats("curate"), [], 0)  # type: ignore[arg-type]
    stage = CurateStage(cfg, ctx)
    b1 = asyncio.run(stage.process([_rec(1, "同じ質問", 2), _rec(2, "同じ質問", 5),
                                    _rec(3, "別の質問", 3)]))
    assert [r.id for r in b1.records] == ["r2", "r3"]  # input order kept
    assert [d.record_id for d in b1.drops] == ["r1"]
    b2 = asyncio.run(stage.process([_rec(4, "別の質問", 5)]))
    assert b2.records == [] and b2.drops[0].detail["duplicate_of"] == "r3"


@pytest.mark.parametrize("kernel", [True, False])
def test_near_dup_on_a_large_batch_joins_once_and_decides_as_record_by_record(
        monkeypatch, kernel):
    """A batch past the join size is resolved by one similarity join; interleaved with
    a later step that drops records (never remembered), decisions and details equal
    the record-by-record scan's, and keep: best orders the walk."""
    import random

    import tane.curate.rouge as rouge_mod

    if kernel:
        pytest.importorskip("numba")
    monkeypatch.setattr(rouge_mod, "_KERNEL", kernel)
    rng = random.Random(7)
    words = ["日本", "四季", "説明", "東京", "料理", "歴史", "猫", "俳句", "要約", "翻訳",
             "天気", "電車", "映画", "音楽", "科学", "数学", "経済", "旅行", "健康", "野菜",
             "宇宙", "海洋", "森林", "言語", "文化", "技術", "教育", "医療", "農業", "建築"]
    batch = []
    for i in range(300):
        if batch and rng.random() < 0.4:
            base = batch[rng.randrange(len(batch))].instruction
            text = base + rng.choice(["", "。", "！", "ね"])
        else:
            text = "".join(rng.choice(words) for _ in range(rng.randint(3, 9))) + "について"
        batch.append(judged(i, text, q=rng.choice([None, 1, 2, 3, 4, 5])))

    def run(method, keep):
        extra = {"keep": "best", "score_field": "judge.quality"} if keep == "best" else {}
        steps = [make_step("near_dup", "ja", tokenizer="char", **extra),
                 make_step("length", "ja", instruction_max=18)]
        steps[0].index.method = method  # auto joins from 2,000 texts when cheaper
        res = run_batch(steps, batch)
        return res, steps[0]._plan is not None

    for keep in ("first", "best"):
        joined, used = run("join", keep)
        scanned, not_used = run("scan", keep)
        assert used and not not_used
        assert joined == scanned
        got = reasons(joined)
        assert got.count("near_dup") > 20 and got.count("length:instruction_too_long") > 5
