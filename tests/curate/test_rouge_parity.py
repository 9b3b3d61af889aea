"""ROUGE-L F and NoveltyIndex decisions are identical to rouge_score's."""

from __future__ import annotations

import importlib.util
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tane.curate.rouge import NoveltyIndex, rouge_l_f
from tane.curate.tokenize import char_tokenize, rouge_tokenize

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rouge_score") is None,
                                reason="the reference needs rouge_score")


class CharTok:
    def tokenize(self, text):
        return char_tokenize(text)


class _Scorer:
    """rouge_score's ROUGE-L scorer, made on first use: rouge_score imports nltk, which
    takes seconds, and every test worker collects this module."""

    def __init__(self, **kw):
        self.kw, self.scorer = kw, None

    def score(self, target, prediction):
        if self.scorer is None:
            from rouge_score import rouge_scorer
            self.scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, **self.kw)
        return self.scorer.score(target, prediction)


EN_SCORER = _Scorer()
JA_SCORER = _Scorer(tokenizer=CharTok())


def ref_f(scorer, target, prediction):
    return scorer.score(target, prediction)["rougeL"].fmeasure


def ref_greedy(scorer, texts, threshold=0.7):
    """The Self-Instruct loop: drop iff max F against the kept ones > threshold."""
    kept, keep = [], []
    for text in texts:
        scores = [ref_f(scorer, text, k) for k in kept]
        keep.append(not (scores and max(scores) > threshold))
        if keep[-1]:
            kept.append(text)
    return keep


def same_float(a, b):
    return float(a).hex() == float(b).hex()


EN_WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "big", "red", "run", "fast", "slow", "write", "poem", "about", "1", "2"]
JA_CHARS = "あいうえおかきくけこのにをはがで日本語文章書くてください、。"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(EN_WORDS + [",", "!", "Cat", "DOG"]), max_size=25),
       st.lists(st.sampled_from(EN_WORDS + [",", "!", "Cat", "DOG"]), max_size=25))
def test_rouge_l_f_bit_identical_english(a_words, b_words):
    a, b = " ".join(a_words), " ".join(b_words)
    ours = rouge_l_f(rouge_tokenize(a), rouge_tokenize(b))
    assert same_float(ours, ref_f(EN_SCORER, a, b))
    assert same_float(rouge_l_f(rouge_tokenize(b), rouge_tokenize(a)), ref_f(EN_SCORER, b, a))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=JA_CHARS, max_size=50), st.text(alphabet=JA_CHARS, max_size=50))
def test_rouge_l_f_bit_identical_japanese_char(a, b):
    ours = rouge_l_f(char_tokenize(a), char_tokenize(b))
    assert same_float(ours, ref_f(JA_SCORER, a, b))


def test_japanese_needs_a_tokenizer_that_sees_it():
    text = "日本の首都について説明してください。"
    assert ref_f(EN_SCORER, text, text) == 0  # rouge_score default: no tokens at all
    assert rouge_l_f(rouge_tokenize(text), rouge_tokenize(text)) == 0.0
    assert ref_f(JA_SCORER, text, text) == 1.0
    assert rouge_l_f(char_tokenize(text), char_tokenize(text)) == 1.0
    blind = NoveltyIndex("rouge")
    assert [r.keep for r in blind.check_batch_and_add([text, text])] == [True, True]
    seeing = NoveltyIndex("char")
    assert [r.keep for r in seeing.check_batch_and_add([text, text])] == [True, False]
    assert [r.keep for r in NoveltyIndex("auto").check_batch_and_add([text, text])] \
        == [True, False]


def _near_dups(rng, n, make, edit):
    out = []
    for _ in range(n):
        out.append(edit(rng.choice(out)) if out and rng.random() < 0.5 else make())
    return out


def en_corpus(n, seed):
    rng = random.Random(seed)

    def make():
        return " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(0, 14)))

    def edit(text):
        w = text.split()
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.4 and w:
                w.pop(rng.randrange(len(w)))
            elif op < 0.8:
                w.insert(rng.randrange(len(w) + 1), rng.choice(EN_WORDS + ["!", "Big"]))
            elif w:
                w[rng.randrange(len(w))] = rng.choice(EN_WORDS)
        return " ".join(w)
    return _near_dups(rng, n, make, edit)


def ja_corpus(n, seed):
    rng = random.Random(seed)

    def make():
        return "".join(rng.choice(JA_CHARS) for _ in range(rng.randint(0, 20)))

    def edit(text):
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text) + 1)
            text = text[:pos] + rng.choice(list(JA_CHARS) + [""]) + text[pos + 1:]
        return text
    return _near_dups(rng, n, make, edit)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("chunk_size,method", [(1, "auto"), (7, "auto"), (1024, "auto"),
                                               (1024, "join")])
def test_greedy_decisions_match_rouge_score_english(seed, chunk_size, method):
    texts = en_corpus(300, seed)
    ref = ref_greedy(EN_SCORER, texts)
    index = NoveltyIndex("rouge", chunk_size=chunk_size, method=method)
    assert [r.keep for r in index.check_batch_and_add(texts)] == ref
    assert len(index) == sum(ref)
    assert 0 < sum(ref) < len(texts)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("chunk_size,method", [(1, "auto"), (16, "auto"), (1024, "auto"),
                                               (1024, "join")])
def test_greedy_decisions_match_rouge_score_japanese(seed, chunk_size, method):
    texts = ja_corpus(250, seed)
    ref = ref_greedy(JA_SCORER, texts)
    index = NoveltyIndex("char", chunk_size=chunk_size, method=method)
    assert [r.keep for r in index.check_batch_and_add(texts)] == ref
    assert 0 < sum(ref) < len(texts)


def test_one_at_a_time_matches_batch():
    texts = en_corpus(200, 5)
    single = NoveltyIndex("rouge")
    one = [single.check_and_add(t).keep for t in texts]
    assert one == ref_greedy(EN_SCORER, texts)


@pytest.mark.parametrize("lcs,la,lb,dropped", [
    (7, 10, 10, False),   # F == 0.7 exactly: a tie is kept
    (14, 20, 20, False),
    (21, 30, 30, False),
    (7, 12, 8, True),     # 0.7 in exact arithmetic, 0.7000000000000001 in rouge_score
    (7, 9, 11, True),
    (6, 10, 10, False),
])
def test_threshold_ties(lcs, la, lb, dropped):
    first = " ".join(f"w{i}" for i in range(lb))  # indexed (prediction)
    shared = [f"w{i}" for i in range(lcs)]
    second = " ".join(shared + [f"x{i}" for i in range(la - lcs)])  # candidate (target)
    ref = ref_f(EN_SCORER, second, first)
    assert same_float(rouge_l_f(second.split(), first.split()), ref)
    assert (ref > 0.7) == dropped
    assert ref_greedy(EN_SCORER, [first, second]) == [True, not dropped]
    for method in ("scan", "join"):
        index = NoveltyIndex("rouge", method=method)
        res = index.check_batch_and_add([first, second])
        assert [r.keep for r in res] == [True, not dropped]
        if ref >= 0.7:  # ties reach report_floor (== threshold by default)
            assert same_float(res[1].max_score, ref) and res[1].top == [(first, ref)]
        else:
            assert res[1].max_score == 0.0 and res[1].top == []
    low = NoveltyIndex("rouge", report_floor=0.0).check_batch_and_add([first, second])
    assert same_float(low[1].max_score, ref) and low[1].top == [(first, ref)]


@pytest.mark.parametrize("method", ["auto", "join"])
def test_empty_never_matches(method):
    assert rouge_l_f([], []) == 0.0 and ref_f(EN_SCORER, "", "") == 0
    index = NoveltyIndex("rouge", method=method)
    results = index.check_batch_and_add(["", "!!!", "", "a cat", "a cat", "   "])
    assert [r.keep for r in results] == [True, True, True, True, False, True]
    assert results[0].max_score == 0.0 and results[0].top == []
    assert len(index) == 5  # empties are counted but not searchable
    assert index.check("").keep and index.check("a cat").max_score == 1.0
    index.add("")
    assert index.check("the dog").keep


def test_check_does_not_add_and_topk_order():
    index = NoveltyIndex("rouge", top_k=2, report_floor=0.0)
    for key, text in [("k1", "a b c d"), ("k2", "a b c x"), ("k3", "q r s t")]:
        index.add(text, key=key)
    res = index.check("a b c d")
    assert not res.keep and res.max_score == 1.0
    assert res.top == [("k1", 1.0), ("k2", 0.75)]
    assert len(index) == 3
    assert index.check_and_add("z y", key="k4").keep and len(index) == 4
    assert NoveltyIndex("rouge", threshold=1.0).check_batch_and_add(["a b", "a b"])[1].keep


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.85, 1.0])
def test_other_thresholds_small_groups_and_exact_max_score(monkeypatch, threshold):
    """Forces many length groups per chunk; with report_floor=0 max_score is the exact
    maximum F over everything kept before (checked bit for bit)."""
    import tane.curate.rouge as rouge_mod

    monkeypatch.setattr(rouge_mod, "_MAX_CELLS", 50)
    rng = random.Random(9)
    texts = en_corpus(150, 9) + [" ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(1, 60)))
                                  for _ in range(60)]
    rng.shuffle(texts)
    index = NoveltyIndex("rouge", threshold=threshold, report_floor=0.0, chunk_size=16)
    results = index.check_batch_and_add(texts)
    kept = []
    for text, res in zip(texts, results):
        scores = [ref_f(EN_SCORER, text, k) for k in kept]
        best = max(scores, default=0.0)
        assert res.keep == (not (scores and best > threshold))
        assert same_float(res.max_score, best)
        if res.keep:
            kept.append(text)


def test_parameter_validation():
    from tane.errors import TaneError

    for bad in (-0.1, 1.5, float("nan"), "0.7", True):
        with pytest.raises(TaneError) as info:
            NoveltyIndex("rouge", threshold=bad)
        assert info.value.field == "threshold"
    with pytest.raises(TaneError):
        NoveltyIndex("rouge", report_floor=2)
    res = NoveltyIndex("rouge", top_k=0).check_batch_and_add(["a b c", "a b c"])
    assert res[1] == type(res[1])(False, 1.0, [])


FEW_EN = ["the", "cat", "sat", "Mat", "on", "!", ","]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FEW_EN), max_size=12), max_size=30),
       st.sampled_from([0.5, 0.7]))
def test_join_matches_rouge_score_english_property(word_lists, threshold):
    """method=join on the rouge tokenizer (empty token lists included) decides as a
    rouge_score greedy loop."""
    texts = [" ".join(w) for w in word_lists]
    got = NoveltyIndex("rouge", threshold=threshold, method="join").check_batch_and_add(texts)
    assert [r.keep for r in got] == ref_greedy(EN_SCORER, texts, threshold)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet="あいのを日本、。 ", max_size=16), max_size=30),
       st.sampled_from([0.5, 0.7]))
def test_join_matches_rouge_score_japanese_char_property(texts, threshold):
    got = NoveltyIndex("char", threshold=threshold, method="join").check_batch_and_add(texts)
    assert [r.keep for r in got] == ref_greedy(JA_SCORER, texts, threshold)
