"""The compiled similarity join (numba) finds exactly the pairs brute force finds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import LCSseq

pytest.importorskip("numba")

from tane.curate import joinkernel  # noqa: E402
from tane.curate.rouge import NoveltyIndex  # noqa: E402
from tane.curate.simjoin import TooCostly, need  # noqa: E402


def _encode(lists):
    return ["".join(chr(0x100 + t) for t in toks) for toks in lists]


# token lists over a small or larger vocabulary, short or long (more than one and more
# than two 64-bit words for the bit-parallel LCS), plus edited copies of earlier lists
@st.composite
def corpora(draw):
    vocab = draw(st.sampled_from([2, 5, 30, 400]))
    longest = draw(st.sampled_from([6, 20, 70, 150]))
    n = draw(st.integers(2, 40))
    out: list[list[int]] = []
    for _ in range(n):
        if out and draw(st.booleans()):
            base = list(out[draw(st.integers(0, len(out) - 1))])
            for _ in range(draw(st.integers(0, 4))):
                if base and draw(st.booleans()):
                    del base[draw(st.integers(0, len(base) - 1))]
                else:
                    base.insert(draw(st.integers(0, len(base))),
                                draw(st.integers(0, vocab - 1)))
            out.append(base or [0])
        else:
            out.append(draw(st.lists(st.integers(0, vocab - 1), min_size=1,
                                     max_size=longest)))
    return out


@settings(max_examples=300, deadline=None)
@given(corpora(), st.sampled_from([0.3, 0.5, 0.7, 0.9, 1.0]), st.integers(0, 40),
       st.booleans(), st.sampled_from([1, 2]))
@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_pairs_and_lcs_equal_brute_force(lists, threshold, n_old, new_vs_new, workers):
    encs = _encode(lists)
    index = NoveltyIndex(str.split, threshold=threshold)
    cut = index.cut
    n_old = min(n_old, len(encs))
    want = {}
    for b in range(len(encs)):
        for a in range(b):
            if b < n_old or (not new_vs_new and a >= n_old):
                continue
            lcs = LCSseq.similarity(encs[a], encs[b])
            if lcs >= need(cut, len(encs[a]), len(encs[b])):
                want[(a, b)] = lcs
    got = {}
    for u, v, lcs in joinkernel.pair_blocks(encs, cut, index.len_range, n_old=n_old,
                                            new_vs_new=new_vs_new, workers=workers):
        for a, b, c in zip(u.tolist(), v.tolist(), lcs.tolist()):
            assert (a, b) not in got  # each pair once
            got[(a, b)] = c
    assert got == want


def test_group_by_v_and_cost_limit():
    lists = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 4, 5, 7], [9, 9, 9]]
    encs = _encode(lists)
    index = NoveltyIndex(str.split, threshold=0.5)
    blocks = list(joinkernel.pair_blocks(encs, index.cut, index.len_range))
    off, gu, gl = joinkernel.group_by_v(iter(blocks), len(encs))
    pairs = {(int(u), v, int(lcs)) for v in range(len(encs))
             for u, lcs in zip(gu[off[v]:off[v + 1]], gl[off[v]:off[v + 1]])}
    assert pairs == {(0, 1, 4), (0, 2, 5), (1, 2, 4)}
    assert off[-1] == 3 and off[0] == 0
    with pytest.raises(TooCostly):
        list(joinkernel.pair_blocks(encs, index.cut, index.len_range, max_rows=0))
    with pytest.raises(ValueError):
        list(joinkernel.pair_blocks(encs + [""], index.cut, index.len_range))


def test_kernel_and_numpy_join_decide_alike_on_japanese_text():
    import tane.curate.rouge as rouge_mod

    base = ["日本の首都について小学生にもわかるように説明してください。",
            "次の文章を三行で要約してください。",
            "猫を主人公にした短い物語を書いてください。"]
    texts = [b + s for b in base for s in ("", "！", "ね。", "とても詳しく。")] * 3
    runs = []
    for kernel in (True, False):
        saved = rouge_mod._KERNEL
        rouge_mod._KERNEL = kernel
        try:
            idx = NoveltyIndex(tokenizer="char", lang="ja", method="join")
            runs.append(idx.check_batch_and_add(texts))
        finally:
            rouge_mod._KERNEL = saved
    assert runs[0] == runs[1]
    assert sum(r.keep for r in runs[0]) == 3 and np.isclose(runs[0][1].max_score, 0.98, atol=0.02)
