"""Sampled axes and context: draws follow the declared weights (a chi-squared test over
10,000 draws with a fixed seed), depend only on the item's key (so a resumed run draws
the same), reach the prompts and provenance; bad declarations are one error line naming
the file, line and field."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import run_tane
from scipy.stats import chisquare

from tane.config.context import SampledAxis
from tane.config.grid import GridStage
from tane.errors import TaneError
from tane.methods.base import StageContext, StageStats
from tane.methods.grid import Grid
from tane.methods.sampled import Sampler
from tane.recipe import load_recipe

N = 10_000


def ctx(seed: int = 7, base_dir: Path | None = None, name: str = "grid") -> StageContext:
    return StageContext(name, None, StageStats(name), [], seed, base_dir)  # type: ignore[arg-type]


def sampler(axes: dict, seed: int = 7, base_dir: Path | None = None) -> Sampler:
    return Sampler({k: SampledAxis.model_validate(v) for k, v in axes.items()},
                   ctx(seed, base_dir), "context")


def counts(s: Sampler, axis: str, labels: list[str]) -> list[int]:
    got = [s.draw(i)[axis].value for i in range(N)]
    assert set(got) <= set(labels), set(got) - set(labels)
    return [got.count(x) for x in labels]


def test_weighted_values_follow_their_weights():
    s = sampler({"difficulty": {"values": {"easy": 1, "medium": 2, "hard": 3.5},
                                "sample": "per_item"}})
    obs = counts(s, "difficulty", ["easy", "medium", "hard"])
    exp = [N * w / 6.5 for w in (1, 2, 3.5)]
    assert chisquare(obs, exp).pvalue > 0.01, obs
    # the test can fail: the same draws are far from equal weights
    assert chisquare(obs, [N / 3] * 3).pvalue < 1e-6


def test_category_then_subcategory_follow_their_weights():
    s = sampler({"topic": {"values": {"math": ["algebra", "geometry"],
                                      "history": {"weight": 2, "values": {"japan": 3,
                                                                          "europe": 1}}},
                           "sample": "per_item"}})
    labels = ["math/algebra", "math/geometry", "history/japan", "history/europe"]
    obs = counts(s, "topic", labels)
    exp = [N * p for p in (1 / 6, 1 / 6, 2 / 3 * 3 / 4, 2 / 3 * 1 / 4)]
    assert chisquare(obs, exp).pvalue > 0.01, obs
    d = s.draw(0)["topic"]
    assert d.category in ("math", "history") and d.value == f"{d.category}/{d.subcategory}"


def test_file_rows_are_drawn_evenly_or_by_their_weight_column(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": f"p{i}", "persona": f"person {i}", "w": i + 1,
                                     "lang": "ja" if i % 2 else "en"}) + "\n"
                         for i in range(4)), encoding="utf-8")
    s = sampler({"persona": {"file": "p.jsonl", "id": "id", "weight": "w"}}, base_dir=tmp_path)
    obs = counts(s, "persona", ["p0", "p1", "p2", "p3"])
    assert chisquare(obs, [N * w / 10 for w in (1, 2, 3, 4)]).pvalue > 0.01, obs
    only = sampler({"persona": {"file": str(f), "id": "id", "where": {"lang": "ja"}}})
    assert {only.draw(i)["persona"].value for i in range(200)} == {"p1", "p3"}
    d = only.draw(0)["persona"]
    assert d.text == f"person {d.value[1]}" and d.for_template()["lang"] == "ja"


def test_a_draw_depends_only_on_the_seed_and_the_item_key():
    axes = {"difficulty": {"values": {"easy": 1, "hard": 2}},
            "topic": {"values": {"a": ["x", "y"], "b": ["z"]}}}
    keys = [(r, j) for r in range(20) for j in range(8)]
    first = {k: Sampler.labels(sampler(axes).draw(*k)) for k in keys}
    random.Random(1).shuffle(keys)
    again = sampler(axes)  # a resumed run: a new sampler, the work in another order
    assert {k: Sampler.labels(again.draw(*k)) for k in keys} == first
    # another axis beside them leaves their draws as they were; another seed does not
    more = sampler(axes | {"tone": {"values": ["polite", "plain"]}})
    assert all(Sampler.labels(more.draw(*k))["topic"] == first[k]["topic"] for k in keys)
    assert {k: Sampler.labels(sampler(axes, seed=8).draw(*k)) for k in keys} != first


def test_grid_crosses_fixed_axes_and_draws_sampled_ones(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "t1", "persona": "札幌に住む52歳の税理士",
                                                  "occupation": "税理士"}) + "\n",
                                      encoding="utf-8")
    cfg = GridStage.model_validate({"method": "grid", "axes": {
        "task": ["explain", "fix"],
        "persona": {"file": "p.jsonl", "sample": "per_item", "id": "id", "label": "質問する人"},
        "difficulty": {"values": {"easy": "基本的な質問", "hard": {"weight": 2,
                                                             "description": "応用的な質問"}},
                       "sample": "per_item"}}})
    assert cfg.axis_names == ["task"] and [c.key for c in cfg.cells()] == ["explain", "fix"]
    assert set(cfg.sampled_axes) == {"persona", "difficulty"}
    assert GridStage.model_validate(cfg.model_dump(mode="json")).sampled_axes == cfg.sampled_axes
    g = Grid(cfg, ctx(base_dir=tmp_path))
    drawn = g.draw(3, 1)
    text, _, _ = g.question_prompt(3, 1, 0, drawn)
    assert "質問する人: 札幌に住む52歳の税理士" in text
    assert drawn["difficulty"].text in text
    prov = g.sampler.provenance(drawn, (3, 1))
    assert prov["sampled"] == {"persona": "t1", "difficulty": drawn["difficulty"].value}
    assert prov["sample_key"] == [3, 1] and prov["sampled_rows"]["persona"]["occupation"] == "税理士"
    assert Sampler.labels(Grid(cfg, ctx(base_dir=tmp_path)).draw(3, 1)) == prov["sampled"]
    with pytest.raises(ValueError, match="sampled axis"):
        cfg.parse_pattern("difficulty=hard")


def test_bundled_personas_hold_50_japanese_and_50_english(tmp_path):
    s = sampler({"ja": {"file": "bundled:personas", "id": "id", "where": {"lang": "ja"}},
                 "en": {"file": "bundled:personas", "id": "id", "where": {"lang": "en"}}})
    for lang in ("ja", "en"):
        assert s.files[lang]["rows"] == 50
        rows = [d.row for d in s.tables[lang].made if d]
        for r in rows:
            assert r["persona"].strip() and r["occupation"] and r["region"]
            assert isinstance(r["age"], int) and 15 <= r["age"] <= 90
        assert len({r["id"] for r in rows}) == 50
        assert len({r["occupation"] for r in rows}) >= 40


# -- bad declarations: one line naming the file, the line and the field ----------------

def _grid_recipe(tmp_path: Path, axis: str) -> Path:
    p = tmp_path / "g.yaml"
    p.write_text("name: t\nstages:\n  - method: grid\n    axes:\n      task: [explain, fix]\n"
                 + axis, encoding="utf-8")
    return p


@pytest.mark.parametrize("axis, line, field, msg", [
    ("      level:\n        sample: per_item\n        values: {easy: 1, hard: -2}\n", 8,
     "stages.0.axes.level.values.hard.weight", "greater than 0"),
    ("      level:\n        sample: per_item\n        values: {easy: {weight: lots}}\n", 8,
     "stages.0.axes.level.values.easy.weight", "valid number"),
    ("      level:\n        sample: per_item\n        values: {easy: true}\n", 8,
     "stages.0.axes.level.values.easy", ""),
    ("      level:\n        sample: per_item\n        values: []\n", 8,
     "stages.0.axes.level.values", "at least one value"),
    ("      topic:\n        sample: per_item\n        values:\n          math: []\n", 9,
     "stages.0.axes.topic.values.math.values", "at least one subcategory"),
    ("      level: {sample: per_item}\n", 6, "stages.0.axes.level", "either values or file"),
])
def test_bad_sampled_axis_is_one_line_with_file_line_field(tmp_path, axis, line, field, msg):
    p = _grid_recipe(tmp_path, axis)
    with pytest.raises(TaneError) as e:
        load_recipe(p)
    one = str(e.value)
    assert "\n" not in one and one.startswith(f"{p}:{line}: field '{field}"), one
    assert msg in one


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_missing_persona_file_is_named_with_its_recipe_field(tmp_path):
    p = _grid_recipe(tmp_path, "      persona: {file: nobody.jsonl, sample: per_item}\n")
    res = run_tane("run", str(p), "--out", str(tmp_path / "out"), "--no-progress",
                   timeout=120)
    assert res.returncode == 2 and not (tmp_path / "out").exists()
    err = " ".join(res.stderr.split())
    assert f"{p}:6:" in err and "stages.0.axes.persona.file" in err
    assert "nobody.jsonl" in err and "not found" in err


def test_bad_row_of_a_persona_file_names_its_line(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"persona": "a"}\n{"persona": ""}\n', encoding="utf-8")
    with pytest.raises(TaneError) as e:
        sampler({"persona": {"file": "p.jsonl"}}, base_dir=tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'p.jsonl'}:2: field 'context.persona.file'")
    (tmp_path / "p.jsonl").write_text('{"persona": "a", "w": 0}\n', encoding="utf-8")
    with pytest.raises(TaneError, match=r"p.jsonl:1: .*positive number"):
        sampler({"persona": {"file": "p.jsonl", "weight": "w"}}, base_dir=tmp_path)


def test_answer_context_reaches_its_prompt_and_provenance():
    from tane.config.answer import AnswerStage
    from tane.methods.answer import Answer
    from tane.schema import Provenance, Record

    cfg = AnswerStage.model_validate({
        "method": "answer", "mode": "ja", "prompt_style": "chat",
        "context": {"tutor": {"file": "bundled:personas", "id": "id", "where": {"lang": "ja"},
                              "label": "あなたはこの人の家庭教師です", "sample": "per_item"},
                    "level": {"values": {"入門": 3, "上級": 1}, "sample": "per_item"}}})
    a = Answer(cfg, ctx(name="answer"))
    rec = Record(id="r1", instruction="分散とは何ですか。", provenance=Provenance(method="t"))
    req = a.prompt(rec)
    assert req is not None
    text = req.prompt[-1]["content"]
    row = req.meta["sampled_rows"]["tutor"]
    assert f"あなたはこの人の家庭教師です: {row['persona']}" in text
    assert req.meta["sampled"]["tutor"] == row["id"] and row["lang"] == "ja"
    assert req.meta["sampled"]["level"] in text and req.meta["sample_key"] == "r1"
    again = Answer(cfg, ctx(name="answer")).prompt(rec)
    assert again is not None and again.meta["sampled"] == req.meta["sampled"]


def test_stats_coverage_of_sampled_values(tmp_path):
    from tane.report.sampled_coverage import sampled_coverage

    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": {"stages": [
        {"method": "grid", "axes": {"task": ["a"], "level": {
            "sample": "per_item", "values": {"easy": 3, "hard": 1}}}},
        {"method": "answer", "context": {"tone": {"sample": "per_item",
                                                   "values": {"x": ["p", "q"]}}}}]}}),
        encoding="utf-8")
    rows = [{"provenance": {"method": "grid", "sampled": {"level": lv},
                            "steps": [{"method": "answer", "sampled": {"tone": "x/p"}}]}}
            for lv in ("easy", "easy", "hard")]
    drops = [{"reason": "near_duplicate", "detail": {"cell": "a", "sampled": {"level": "hard"}}}]
    cov = sampled_coverage(rows, drops, tmp_path)
    level = {v["value"]: v for v in cov["axes"]["level"]["values"]}
    assert level["easy"] == {"value": "easy", "kept": 2, "dropped": 0, "share": 0.6667,
                             "expected_share": 0.75}
    assert level["hard"]["dropped"] == 1 and cov["axes"]["level"]["declared"] == 2
    tone = {v["value"]: v for v in cov["axes"]["tone"]["values"]}
    assert tone["x/p"]["kept"] == 3 and tone["x/q"] == {
        "value": "x/q", "kept": 0, "dropped": 0, "share": 0.0, "expected_share": 0.5}
    assert sampled_coverage([{"provenance": {"method": "grid"}}], [], tmp_path) is None
    persona = [{"provenance": {"sampled": {"who": "ja-007"},
                               "sampled_files": {"who": {"path": "p.jsonl", "rows": 50}}}}]
    who = sampled_coverage(persona, [], tmp_path)["axes"]["who"]
    assert who["declared"] == 50 and who["seen"] == 1


class _NoCalls:
    """Stands in for the model where a record is built without any call: it only names
    the model for provenance."""

    def model_for(self, kind: str):
        from tane.llm.base import ModelInfo
        return ModelInfo("none")


def test_magpie_context_is_added_to_the_system_prompt_and_provenance():
    from tane.config.magpie import MagpieStage
    from tane.methods.magpie import Magpie

    cfg = MagpieStage.model_validate({
        "method": "magpie", "mode": "en", "template": "chatml", "system_prompt": "Be brief.",
        "context": {"user": {"file": "bundled:personas", "id": "id", "where": {"lang": "en"},
                             "sample": "per_item"}}})
    m = Magpie(cfg, ctx(name="magpie"))
    m.ctx.llm = _NoCalls()  # type: ignore[assignment]
    conv = m.start(2, 5)
    row = conv.drawn["user"].row
    assert conv.system.startswith("Be brief.\n\n") and row["persona"] in conv.system
    assert row["persona"] in m.instruction_prompt(m.fmt, conv)
    assert Magpie(cfg, ctx(name="magpie")).start(2, 5).system == conv.system
    conv.messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    prov = m.record(m.fmt, conv).provenance.model_dump()
    assert prov["sampled"] == {"user": row["id"]} and prov["sample_key"] == [2, 5]
    assert prov["sampled_rows"]["user"]["lang"] == "en"


@pytest.mark.parametrize("mode, style", [("ja", "completion"), ("ja", "chat"),
                                         ("en", "completion"), ("en", "chat")])
def test_self_instruct_context_reaches_its_generate_prompt(mode, style):
    from tane.config.self_instruct import SelfInstructStage
    from tane.methods.self_instruct import SelfInstruct
    from tane.seeds.loader import load_seeds

    cfg = SelfInstructStage.model_validate({
        "method": "self_instruct", "mode": mode, "prompt_style": style,
        "context": {"asker": {"file": "bundled:personas", "id": "id", "where": {"lang": mode},
                              "sample": "per_item"}}})
    c = ctx(name="self_instruct")
    c.seeds = load_seeds(f"bundled:{mode}")
    si = SelfInstruct(cfg, c)
    text, _ = si.build_prompt(1, 2)
    drawn = si.sampler.draw(1, 2)["asker"]
    assert drawn.text in text
    plain = SelfInstruct(SelfInstructStage.model_validate(
        {"method": "self_instruct", "mode": mode, "prompt_style": style}), c)
    assert drawn.text not in plain.build_prompt(1, 2)[0]


def test_grid_round_records_its_draws_and_a_fresh_stage_draws_them_again():
    """A grid round on ScriptedBackend (tests/fakes.py, a mock: no model; fixed replies so
    the provenance can be checked exactly): every question prompt shows its persona, every
    record keeps what it drew and its key, and a new stage (a resumed run) draws the same."""
    import asyncio
    import itertools

    from fakes import ScriptedBackend

    topics = itertools.count()
    subjects = ["平均", "分散", "中央値", "回帰直線", "相関係数", "p値", "信頼区間", "標準誤差"]

    def reply(kind, prompt, params) -> str:
        head, _, last = prompt.rpartition("### 質問:")
        if not last.strip():
            n = next(topics)
            return f"{subjects[n % len(subjects)]}を{n}通りの方法で求める手順を教えてください。"
        return f"結論: {last.strip()[:12]}は次のように求めます。手順を順に説明します。"

    cfg = GridStage.model_validate({
        "method": "grid", "mode": "ja", "check_language": False, "request_batch_size": 4,
        "num_question_examples": 0, "num_examples": 0, "count": 2,
        "axes": {"task": ["explain", "write"],
                 "persona": {"file": "bundled:personas", "where": {"lang": "ja"}, "id": "id",
                             "label": "質問する人", "sample": "per_item"},
                 "level": {"values": {"basic": 3, "advanced": 1}, "sample": "per_item"}}})
    llm = ScriptedBackend(reply)
    g = Grid(cfg, StageContext("grid", llm, StageStats("grid"), [], 3, None))
    records = asyncio.run(g.round(0, 4)).records
    assert records
    fresh = Grid(cfg, ctx(seed=3))
    shown = [c.text for c in llm.calls if c.text.rstrip().endswith("### 質問:")]
    assert len(shown) == 4
    for j, text in enumerate(shown):
        assert f"質問する人: {fresh.draw(0, j)['persona'].text}" in text
    for rec in records:
        p = rec.provenance.model_dump()
        assert p["sampled"] == Sampler.labels(fresh.draw(*p["sample_key"]))
        assert p["sampled_rows"]["persona"]["id"] == p["sampled"]["persona"]
        assert p["sampled_files"]["persona"]["rows"] == 50


def test_dataset_card_names_the_sampled_files_and_their_licence():
    from tane.export.card_sampled import sampled_lines

    mine = {"path": "nemotron_ja.jsonl", "rows": 2000, "sha256": "ab12"}
    ours = {"path": "bundled:personas", "rows": 50, "sha256": "cd34"}
    records = [{"provenance": {"sampled_files": {"persona": ours}}},
               {"provenance": {"steps": [{"sampled_files": {"tutor": mine}}]}}]
    lines, warnings = sampled_lines(records)
    text = "\n".join(lines)
    assert "| `bundled:personas` | persona | 50 | cd34 | written for tane" in text
    assert "| `nemotron_ja.jsonl` | tutor | 2000 | ab12 | not recorded |" in text
    assert len(warnings) == 1 and "nemotron_ja.jsonl" in warnings[0]
    assert sampled_lines([{"provenance": {"sampled": {"level": "easy"}}}]) == ([], [])
