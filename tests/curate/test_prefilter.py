"""The exact prefix prefilter keeps exactly what brute-force greedy ROUGE-L keeps."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tane.curate.prefilter import PrefixFilter, elements
from tane.curate.rouge import NoveltyIndex, rouge_l_f
from tane.curate.simjoin import candidate_pairs

VOCAB = [f"w{i}" for i in range(8)]


def split(text: str) -> list[str]:
    return text.split()


def brute_greedy(token_lists, threshold):
    kept, keep = [], []
    for toks in token_lists:
        k = not any(rouge_l_f(toks, other) > threshold for other in kept)
        keep.append(k)
        if k:
            kept.append(toks)
    return keep


# corpora: random token lists over a small vocabulary, plus edits of earlier lists
corpus = st.lists(
    st.one_of(
        st.lists(st.sampled_from(VOCAB), max_size=14),
        st.tuples(st.integers(0, 10_000), st.lists(st.sampled_from(VOCAB), max_size=3),
                  st.integers(0, 3)),
    ),
    min_size=1, max_size=60)


def materialise(spec):
    out: list[list[str]] = []
    for item in spec:
        if isinstance(item, tuple) and out:
            src, extra, drop = item
            base = list(out[src % len(out)])
            del base[:drop]
            out.append(base + extra)
        elif isinstance(item, tuple):
            out.append(list(item[1]))
        else:
            out.append(item)
    return out


@settings(max_examples=150, deadline=None)
@given(corpus, st.sampled_from([0.5, 0.7, 0.85]), st.sampled_from([1, 5, 1024]))
def test_prefilter_greedy_equals_brute_force(spec, threshold, chunk_size):
    lists = materialise(spec)
    texts = [" ".join(t) for t in lists]
    ref = brute_greedy(lists, threshold)
    pre = NoveltyIndex(split, threshold=threshold, method="prefilter", chunk_size=chunk_size)
    scan = NoveltyIndex(split, threshold=threshold, method="scan", chunk_size=chunk_size)
    got = pre.check_batch_and_add(texts)
    assert [r.keep for r in got] == ref
    assert got == scan.check_batch_and_add(texts)  # same scores and top lists too


@settings(max_examples=300, deadline=None)
@given(corpus, st.sampled_from([0.3, 0.5, 0.7, 0.85, 1.0]), st.integers(0, 60),
       st.sampled_from([0.0, 0.7]), st.sampled_from([(0, 1), (192, 64)]), st.booleans())
@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_join_greedy_equals_brute_force(spec, threshold, split_at, floor, fold, kernel):
    """The batch join (all pairs at once, then the greedy walk) decides as brute force
    and reports the same scores and top lists as a scan, also when part of the corpus
    is indexed by an earlier call (old-new pairs) and for check() without adding;
    fold (0, 1) makes every token collide in the folded pre-scoring; kernel: the
    compiled join (numba) or the numpy one."""
    import tane.curate.rouge as rouge_mod

    if kernel:
        pytest.importorskip("numba")
    saved = rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS, rouge_mod._KERNEL
    rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS = fold
    rouge_mod._KERNEL = kernel
    try:
        _join_case(spec, threshold, split_at, floor)
    finally:
        rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS, rouge_mod._KERNEL = saved


def _join_case(spec, threshold, split_at, floor):
    lists = materialise(spec)
    texts = [" ".join(t) for t in lists]
    ref = brute_greedy(lists, threshold)
    join = NoveltyIndex(split, threshold=threshold, method="join")
    scan = NoveltyIndex(split, threshold=threshold, method="scan")
    k = min(split_at, len(texts))
    got = join.check_batch_and_add(texts[:k]) + join.check_batch_and_add(texts[k:])
    assert [r.keep for r in got] == ref
    assert got == scan.check_batch_and_add(texts)
    assert len(join) == len(scan) == sum(ref)
    if floor == 0.0:  # report_floor 0: every pair counts, the join is not used
        low = NoveltyIndex(split, threshold=threshold, method="join", report_floor=0.0)
        assert [r.keep for r in low.check_batch_and_add(texts)] == ref
    probe = NoveltyIndex(split, threshold=threshold, method="join")
    for t in texts[:k]:
        probe.add(t)
    checked = [probe.check(t) for t in texts[k:]]
    again = NoveltyIndex(split, threshold=threshold, method="scan")
    for t in texts[:k]:
        again.add(t)
    assert checked == [again.check(t) for t in texts[k:]]


@settings(max_examples=200, deadline=None)
@given(corpus, st.sampled_from([0.3, 0.5, 0.7, 0.9, 1.0]), st.integers(0, 60))
def test_join_candidates_never_miss_a_pair_at_or_above_the_cutoff(spec, threshold, n_old):
    lists = [t for t in materialise(spec) if t]
    index = NoveltyIndex(split, threshold=threshold)
    encs = [index._encode(t) for t in lists]
    n_old = min(n_old, len(encs))
    u, v = candidate_pairs(encs, index.cut, index.len_range, n_old=n_old)
    pairs = set(zip(u.tolist(), v.tolist()))
    assert len(pairs) == len(u) and all(a < b for a, b in pairs)
    for b in range(len(lists)):
        for a in range(b):
            if rouge_l_f(lists[b], lists[a]) >= threshold and b >= n_old:
                assert (a, b) in pairs, (lists[a], lists[b])
            if b < n_old:
                assert (a, b) not in pairs  # old-old pairs are never produced


@settings(max_examples=150, deadline=None)
@given(corpus, st.sampled_from([0.3, 0.5, 0.7, 0.9, 1.0]))
def test_candidates_never_miss_a_pair_at_or_above_the_cutoff(spec, threshold):
    lists = [t for t in materialise(spec) if t]
    index = NoveltyIndex(split, threshold=threshold, method="prefilter")
    for t in lists:
        index.add(" ".join(t))
    index._use_prefilter()
    pf = index._pf
    for q in lists:
        enc = index._encode(q)
        cands = set(pf.candidates(enc, index._lens).tolist())
        for gid, other in enumerate(lists):
            if rouge_l_f(q, other) >= threshold:
                assert gid in cands, (q, other)


@settings(max_examples=150, deadline=None)
@given(corpus, st.sampled_from([0.5, 0.7, 0.85]), st.sampled_from([1, 5, 1024]),
       st.sampled_from([(0, 1), (2, 2), (192, 64)]))
@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_folded_scan_equals_brute_force(spec, threshold, chunk_size, fold):
    """The scan runs on folded codes (upper bounds) and re-scores survivors exactly; a
    low fold point makes almost every token collide."""
    import tane.curate.rouge as rouge_mod

    lists = materialise(spec)
    texts = [" ".join(t) for t in lists]
    saved = rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS
    rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS = fold  # (0, 1): every token collides
    try:
        folded = NoveltyIndex(split, threshold=threshold, method="scan", chunk_size=chunk_size)
        got = folded.check_batch_and_add(texts)
    finally:
        rouge_mod._FOLD_AT, rouge_mod._FOLD_SLOTS = saved
    rouge_mod._FOLD = False
    try:
        plain = NoveltyIndex(split, threshold=threshold, method="scan", chunk_size=chunk_size)
        want = plain.check_batch_and_add(texts)
    finally:
        rouge_mod._FOLD = True
    assert [r.keep for r in got] == brute_greedy(lists, threshold)
    assert got == want


def tie_pair(lcs, la, lb):
    first = [f"w{i}" for i in range(lb)]
    second = first[:lcs] + [f"x{i}" for i in range(la - lcs)]
    return " ".join(first), " ".join(second)


@pytest.mark.parametrize("lcs,la,lb", [(7, 10, 10), (14, 20, 20), (21, 30, 30),
                                       (7, 12, 8), (7, 9, 11), (6, 10, 10), (8, 10, 10)])
def test_exact_threshold_ties(lcs, la, lb):
    first, second = tie_pair(lcs, la, lb)
    ref = brute_greedy([first.split(), second.split()], 0.7)
    for method in ("prefilter", "scan", "join"):
        res = NoveltyIndex(split, method=method).check_batch_and_add([first, second])
        assert [r.keep for r in res] == ref
    # shuffled token order inside the shared part changes the LCS but not the multiset
    rng = random.Random(lcs * 100 + la)
    toks = second.split()
    rng.shuffle(toks)
    pair = [first, " ".join(toks)]
    ref = brute_greedy([p.split() for p in pair], 0.7)
    for method in ("prefilter", "join"):
        assert [r.keep for r in NoveltyIndex(split, method=method)
                .check_batch_and_add(pair)] == ref


def test_multiset_elements_and_overlap_bound():
    assert len(set(elements("aab"))) == 3
    pf = PrefixFilter(0.7 - 1e-6, lambda n: (1, n * 3))
    assert pf.min_overlap(10, 10) == 7  # F = 0.7 needs LCS >= 7 (ties included)


def test_auto_switches_to_prefilter_on_large_indexes(monkeypatch):
    import tane.curate.rouge as rouge_mod

    monkeypatch.setattr(rouge_mod, "_AUTO_PREFILTER", 50)
    rng = random.Random(3)
    lists = [[rng.choice(VOCAB) for _ in range(rng.randint(0, 12))] for _ in range(400)]
    texts = [" ".join(t) for t in lists]
    auto = NoveltyIndex(split, method="auto", chunk_size=32)
    got = [r.keep for r in auto.check_batch_and_add(texts)]
    assert auto._pf is not None
    assert got == brute_greedy(lists, 0.7)


@pytest.mark.parametrize("kernel", [True, False])
def test_auto_uses_the_join_for_large_batches(monkeypatch, kernel):
    import tane.curate.joinkernel as joinkernel
    import tane.curate.novelty_join as novelty_join
    import tane.curate.rouge as rouge_mod
    import tane.curate.simjoin as simjoin_mod

    if kernel:
        pytest.importorskip("numba")
    calls = []
    real = joinkernel.pair_blocks if kernel else simjoin_mod.candidate_blocks

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(rouge_mod, "_KERNEL", kernel)
    if kernel:
        monkeypatch.setattr(joinkernel, "pair_blocks", counting)
    else:
        monkeypatch.setattr(novelty_join, "candidate_blocks", counting)
    monkeypatch.setattr(rouge_mod, "_AUTO_JOIN", 100)
    rng = random.Random(4)
    lists = [[rng.choice(VOCAB) for _ in range(rng.randint(0, 12))] for _ in range(300)]
    texts = [" ".join(t) for t in lists]
    auto = NoveltyIndex(split, method="auto")
    got = [r.keep for r in auto.check_batch_and_add(texts[:250])]
    got += [r.keep for r in auto.check_batch_and_add(texts[250:])]  # small batch: scan
    assert calls == [sum(1 for t in lists[:250] if t)]
    assert got == brute_greedy(lists, 0.7)


def test_report_floor_zero_scans_and_bad_method():
    from tane.errors import TaneError

    index = NoveltyIndex(split, method="prefilter", report_floor=0.0)
    res = index.check_batch_and_add(["a b c", "a x y", "a b c"])
    assert [r.keep for r in res] == [True, True, False] and index._pf is None
    with pytest.raises(TaneError):
        NoveltyIndex(split, method="fast")


def test_minhash_index_and_step():
    pytest.importorskip("datasketch")
    from tane.curate.steps import Fields, make_step
    from tane.curate.minhash import MinHashIndex

    ja = "日本の首都について小学生にもわかるように説明してください。"
    idx = MinHashIndex(lang="ja")
    assert idx.check_batch_and_add([ja, ja + "！", "猫の俳句を詠んでください。", ""]) \
        == [True, False, True, True]
    assert idx.shingles("ab") == {b"ab"}  # shorter than n: one shingle
    en = MinHashIndex(lang="en")
    assert en.check_batch_and_add(["Write a poem about the sea", "write a poem about the sea!",
                                   "List five facts about volcanoes"]) == [True, False, True]
    step = make_step("minhash_dup", lang="ja", threshold=0.7)
    first = Fields(instruction=ja, id="r1")
    assert step.check(first) is None
    step.commit(first)
    reason, detail = step.check(Fields(instruction=ja, id="r2"))
    assert reason == "minhash_dup" and detail["similar_to"] == "r1" and detail["jaccard"] == 1.0


def test_prefetch_keeps_order_raises_producer_errors_and_stops_early():
    import threading

    import numpy as np

    from tane.curate.simjoin import TooCostly, prefetch

    def blocks(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise TooCostly(i)
            yield np.array([i]), np.array([i + 1])

    assert [int(u[0]) for u, _ in prefetch(blocks(5))] == [0, 1, 2, 3, 4]
    got = []
    with pytest.raises(TooCostly):
        for u, _ in prefetch(blocks(5, fail_at=3)):
            got.append(int(u[0]))
    assert got == [0, 1, 2]
    it = prefetch(blocks(1000))
    next(it)
    it.close()  # the consumer stops early: the producer thread ends too
    assert not [t for t in threading.enumerate() if t.name == "tane-simjoin"]
