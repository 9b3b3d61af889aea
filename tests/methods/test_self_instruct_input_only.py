"""``instances: input_only`` writes no output on any record, a classification task's
included: every output is left to the answer stage (and its model). ``ScriptedBackend``
(a mock) gives fixed replies, so that the classification is certainly "yes" (a real
model's answer to it cannot be chosen)."""

from __future__ import annotations

import asyncio

from fakes import ScriptedBackend

from tane.methods.base import StageContext, StageStats
from tane.methods.self_instruct import SelfInstruct
from tane.recipe import SelfInstructStage
from tane.seeds.loader import load_seeds
from tane.stage import Availability, check_chain

TASK = "次の商品レビューが肯定的か否定的かを判定してください。"


def reply(kind, prompt, params):
    if prompt.rstrip().endswith("分類タスク:"):
        return " はい"
    if prompt.rstrip().endswith("ラベル:"):
        return " 肯定的\n入力: 届いた翌日から毎日使っています。とても気に入りました。"
    return f" {TASK}\n10. 好きな季節とその理由を三つ書いてください。"


def make(**cfg) -> tuple[SelfInstruct, ScriptedBackend]:
    llm = ScriptedBackend(reply)
    ctx = StageContext(name="self_instruct", llm=llm, stats=StageStats("self_instruct"),
                       seeds=load_seeds("bundled:ja"), recipe_seed=1)
    return SelfInstruct(SelfInstructStage(method="self_instruct", mode="ja",
                                          request_batch_size=1, **cfg), ctx), llm


def test_input_only_writes_no_output_on_a_classification_task():
    si, _ = make(instances="input_only")  # classify: seeds, the ja default
    batch = asyncio.run(si.round(0, 5))
    clf = [r for r in batch.records if r.instruction == TASK]
    assert len(clf) == 1, [(d.reason, d.text) for d in batch.drops]
    rec = clf[0]
    prov = rec.provenance.model_dump()
    assert prov["is_classification"] is True and prov["instance_order"] == "output_first"
    assert rec.output is None
    assert rec.input.startswith("届いた翌日から")
    assert prov["instance_label"] == "肯定的"
    assert all(r.output is None for r in batch.records)


def test_full_instances_keep_the_label_as_the_output():
    si, _ = make(instances="full")
    batch = asyncio.run(si.round(0, 5))
    rec = next(r for r in batch.records if r.instruction == TASK)
    assert rec.output == "肯定的"
    assert "instance_label" not in rec.provenance.model_dump()


def test_the_contract_of_input_only_says_no_output():
    spec = SelfInstructStage(method="self_instruct", mode="ja",
                             instances="input_only").contract()
    assert "output" not in spec.writes | spec.maybe_writes
    after = Availability().after(spec)
    assert "output" not in after.sure | after.maybe
    # a judge straight after it is refused: no record has an output
    bad = check_chain([("self_instruct", spec),
                       ("judge", _judge_spec())], Availability(set(), set()))
    assert bad is not None and bad[0] == 1 and "on every record" not in bad[1]


def _judge_spec():
    from tane.config.judge import JudgeStage

    return JudgeStage(method="judge").contract()
