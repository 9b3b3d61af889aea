"""The ``lsh_dup`` curate step: the same greedy decisions on the LSH graph as
`tane dedup --method minhash-lsh`, across batches (a recipe's rounds) and through
`tane curate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tane.curate import lsh
from tane.curate.lsh_dedup import LSHOptions, lsh_decisions
from tane.curate.rouge import NoveltyIndex
from tane.curate.stage import build_steps, run_batch
from tane.curate.steps.base import Fields
from tane.errors import TaneError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from dedup import make_corpus


@pytest.fixture(scope="module")
def texts():
    return make_corpus(2000, "ja", seed=9)[0]


def _fields(texts, start=0):
    return [Fields(instruction=t, id=start + i) for i, t in enumerate(texts)]


def test_one_batch_equals_the_dedup_command_and_stays_close_to_near_dup(texts):
    steps = build_steps("ja", [{"name": "lsh_dup", "tokenizer": "char"}])
    res = run_batch(steps, _fields(texts))
    keep = np.array([r is None for r in res])
    ref = lsh_decisions(texts, LSHOptions(exact=True, params=lsh.LSHParams(
        tokenizer="char", lang="ja")))
    assert np.array_equal(keep, ref.decisions.keep)
    for i, r in enumerate(res):
        if r is not None:
            reason, detail = r
            assert reason == "lsh_dup" and detail["score"] >= 0.7  # F > 0.7, rounded
            assert detail["similar_to"] == int(ref.decisions.similar_to[i])
            assert detail["similar_text"] == texts[detail["similar_to"]]
    idx = NoveltyIndex(tokenizer="char", lang="ja", threshold=0.7)
    exact = np.array([x.keep for x in idx.check_batch_and_add(texts)])
    both = int((~exact & ~keep).sum())
    assert both / (~exact).sum() >= 0.97 and both / (~keep).sum() >= 0.98


def test_rounds_remember_what_earlier_batches_kept(texts):
    one = build_steps("ja", [{"name": "lsh_dup", "tokenizer": "char"}])
    whole = run_batch(one, _fields(texts))
    two = build_steps("ja", [{"name": "lsh_dup", "tokenizer": "char"}])
    first = run_batch(two, _fields(texts[:700]))
    second = run_batch(two, _fields(texts[700:], start=700))
    assert [r is None for r in first + second] == [r is None for r in whole]
    later = [r for r in second if r is not None and r[1]["similar_to"] < 700]
    assert later  # rows of the second round dropped as copies of first-round rows


def test_estimated_mode_and_bad_parameters():
    texts = ["日本の四季について詳しく説明してください。",
             "日本の四季について詳しく説明して下さい。",
             "Pythonでリストを逆順にする方法を教えてください。"]
    steps = build_steps("ja", [{"name": "lsh_dup", "exact": False, "tokenizer": "char",
                                "bands": 64, "rows": 2}])
    res = run_batch(steps, _fields(texts))
    assert res[0] is None and res[2] is None and res[1][0] == "lsh_dup"
    assert res[1][1]["similar_to"] == 0 and res[1][1]["score"] >= 0.538
    with pytest.raises(TaneError, match="steps.0.bands"):
        build_steps("ja", [{"name": "lsh_dup", "bands": 0}])


def test_tane_curate_with_lsh_dup(tmp_path, texts):
    from typer.testing import CliRunner

    from tane.cli import app

    src, out, recipe = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "c.yaml"
    src.write_text("".join(json.dumps({"id": i, "instruction": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(texts[:500])), encoding="utf-8")
    recipe.write_text("lang: ja\nsteps:\n  - name: lsh_dup\n    tokenizer: char\n",
                      encoding="utf-8")
    res = CliRunner().invoke(app, ["curate", str(src), "--recipe", str(recipe), "-o", str(out)])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
    ref = lsh_decisions(texts[:500], LSHOptions(exact=True, params=lsh.LSHParams(
        tokenizer="char", lang="ja")))
    assert kept == np.flatnonzero(ref.decisions.keep).tolist()
    assert f"lsh_dup: {500 - len(kept)}" in res.output
