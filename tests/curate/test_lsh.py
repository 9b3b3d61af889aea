"""MinHash-LSH dedup (`tane.curate.lsh`, `components`, `lsh_dedup`) against the exact
greedy ROUGE-L dedup it approximates, on the synthetic near-duplicate corpus of
bench/dedup.py (real seed instructions, planted light and heavy edits)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tane.curate import components as comp
from tane.curate import lsh
from tane.curate.lsh_dedup import LSHOptions, lsh_decisions, shard_bounds
from tane.curate.rouge import NoveltyIndex, rouge_l_f
from tane.curate.tokenize import get_tokenizer
from tane.errors import TaneError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from dedup import make_corpus

# Stated bounds (docs/scale.md): with the default 32 bands x 4 rows and exact
# confirmation, recall against exact greedy ROUGE-L >= 0.97 and precision >= 0.98 on
# this corpus; measured 0.99+ for both on 3,000 rows.
RECALL_EXACT = 0.97
PRECISION_EXACT = 0.98
RECALL_ESTIMATE = 0.85


def _exact(texts, tokenizer, lang):
    idx = NoveltyIndex(tokenizer=tokenizer, lang=lang, threshold=0.7, top_k=1)
    return np.array([r.keep for r in idx.check_batch_and_add(texts)])


def _recall_precision(exact_keep, lsh_keep):
    ed, ld = ~exact_keep, ~lsh_keep
    both = int((ed & ld).sum())
    return both / max(1, int(ed.sum())), both / max(1, int(ld.sum()))


@pytest.fixture(scope="module", params=[("en", "rouge", None), ("ja", "char", "ja")],
                ids=["en", "ja"])
def corpus(request):
    lang, tok, tlang = request.param
    texts, _ = make_corpus(3000, lang, seed=5)
    return texts, tok, tlang, _exact(texts, tok, tlang)


# -- union-find and resolution on hand-built graphs -----------------------------------

def test_union_find_components_are_rooted_at_the_smallest_member():
    edges = np.array([[0, 1], [2, 1], [4, 3], [6, 5], [5, 4], [8, 9]])
    roots = comp.components(11, edges)
    assert roots.tolist() == [0, 0, 0, 3, 3, 3, 3, 7, 8, 8, 10]
    assert comp.groups(roots) == [[0, 1, 2], [3, 4, 5, 6], [8, 9]]
    uf = comp.UnionFind(4)
    assert uf.union(3, 2) == 2 and uf.union(2, 1) == 1 and uf.find(3) == 1
    assert uf.union(0, 3) == 0 and uf.roots().tolist() == [0, 0, 0, 0]


def test_greedy_and_component_differ_on_a_chain():
    # A-B and B-C similar, A-C not: greedy drops B only (C meets no kept row),
    # components drop B and C (one group, A kept)
    edges, scores = np.array([[0, 1], [1, 2]]), np.array([0.9, 0.8])
    g = comp.resolve(4, edges, scores, "greedy")
    assert g.keep.tolist() == [True, False, True, True]
    assert g.similar_to.tolist() == [-1, 0, -1, -1] and g.score[1] == 0.9
    c = comp.resolve(4, edges, scores, "component")
    assert c.keep.tolist() == [True, False, False, True]
    assert c.similar_to.tolist() == [-1, 0, 0, -1] and c.via[2] == 1
    assert np.isnan(c.score[2]) and c.score[1] == 0.9


def test_greedy_picks_the_best_scored_kept_row_and_follows_the_order():
    edges = np.array([[0, 2], [1, 2]])
    d = comp.resolve(3, edges, np.array([0.75, 0.8]))
    assert d.keep.tolist() == [True, True, False] and d.similar_to[2] == 1
    # decided in the order 2, 0, 1 (keep best): 2 is kept, 0 and 1 dropped as its copies
    d = comp.resolve(3, edges, np.array([0.75, 0.8]), order=[2, 0, 1])
    assert d.keep.tolist() == [False, False, True] and d.similar_to.tolist() == [2, 2, -1]


def test_greedy_on_all_exact_pairs_is_exactly_greedy_rouge_dedup():
    texts, _ = make_corpus(400, "ja", seed=11)
    tok = get_tokenizer("char", "ja")
    enc = comp.encode([tok(t) for t in texts])
    i, j = np.triu_indices(len(texts), k=1)
    edges, f = comp.confirm_exact(enc, np.stack([i, j], axis=1), 0.7)
    d = comp.resolve(len(texts), edges, f)
    idx = NoveltyIndex(tokenizer="char", lang="ja", threshold=0.7, top_k=1)
    res = idx.check_batch_and_add(texts, keys=list(range(len(texts))))
    assert d.keep.tolist() == [r.keep for r in res]
    assert (~d.keep).sum() > 20
    for k, r in enumerate(res):
        if not r.keep:
            assert d.similar_to[k] == r.top[0][0] and d.score[k] == r.max_score


# -- signatures and buckets ------------------------------------------------------------

def test_signatures_estimate_multiset_jaccard_and_skip_texts_without_tokens():
    p = lsh.LSHParams(bands=64, rows=4, tokenizer="char", lang="ja")
    a = "日本の四季について詳しく説明してください。"
    b = "日本の四季について簡単に説明して下さい。"
    sigs, ok = lsh.sign_shard([a, b, a, "。、 "], p)
    assert ok.tolist() == [True, True, True, False]
    assert (sigs[0] == sigs[2]).all() and (sigs[3] == lsh.EMPTY).all()
    tok = get_tokenizer("char", "ja")
    ta, tb = tok(a), tok(b)
    from collections import Counter
    ca, cb = Counter(ta), Counter(tb)
    true_j = sum((ca & cb).values()) / sum((ca | cb).values())
    est = lsh.estimated_jaccard(sigs, np.array([[0, 1]]))[0]
    assert abs(est - true_j) < 0.15
    # the multiset bound J >= F/(2-F) holds for the true Jaccard
    assert true_j >= lsh.jaccard_floor(rouge_l_f(ta, tb)) - 1e-12


def test_bucket_pairs_all_pairs_of_a_bucket_or_a_star_when_too_large():
    keys = np.array([5, 7, 5, 5, 9, 7], dtype=np.uint64)
    rows = np.array([10, 11, 12, 13, 14, 15])
    assert lsh.bucket_pairs(keys, rows).tolist() == [[11, 15], [10, 12], [10, 13], [12, 13]]
    star = lsh.bucket_pairs(keys, rows, max_bucket=2)
    assert sorted(star.tolist()) == [[10, 12], [10, 13], [11, 15]]


def test_params_are_checked():
    with pytest.raises(TaneError, match="bands"):
        lsh.LSHParams(bands=0)
    with pytest.raises(TaneError, match="tokenizer"):
        lsh.LSHParams(tokenizer="nope")
    with pytest.raises(TaneError, match="resolve"):
        LSHOptions(resolve="nope")
    assert lsh.candidate_probability(0.538, 32, 4) > 0.93
    assert shard_bounds(10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]


# -- against exact greedy dedup --------------------------------------------------------

def test_lsh_with_exact_confirmation_against_exact_greedy(corpus):
    texts, tok, tlang, exact_keep = corpus
    opts = LSHOptions(exact=True, params=lsh.LSHParams(tokenizer=tok, lang=tlang))
    res = lsh_decisions(texts, opts)
    recall, precision = _recall_precision(exact_keep, res.decisions.keep)
    assert (~exact_keep).sum() > 300
    assert recall >= RECALL_EXACT and precision >= PRECISION_EXACT, (recall, precision)
    # no false drop: every dropped row is above the threshold against a row that is kept
    t = get_tokenizer(tok, tlang)
    d = res.decisions
    for i in np.flatnonzero(~d.keep).tolist():
        j = int(d.similar_to[i])
        assert d.keep[j] and j < i
        assert rouge_l_f(t(texts[j]), t(texts[i])) == d.score[i] > 0.7


def test_lsh_with_estimates_only(corpus):
    texts, tok, tlang, exact_keep = corpus
    res = lsh_decisions(texts, LSHOptions(params=lsh.LSHParams(tokenizer=tok, lang=tlang)))
    recall, _ = _recall_precision(exact_keep, res.decisions.keep)
    assert res.measure == "jaccard_estimate" and recall >= RECALL_ESTIMATE
    comp_res = lsh_decisions(texts, LSHOptions(resolve="component",
                                               params=lsh.LSHParams(tokenizer=tok,
                                                                    lang=tlang)))
    # components drop a superset of greedy's drops on the same edges
    assert not (~res.decisions.keep & comp_res.decisions.keep).any()


def test_same_result_with_one_or_four_shards(corpus):
    texts, tok, tlang, _ = corpus
    p = lsh.LSHParams(tokenizer=tok, lang=tlang)
    one = lsh_decisions(texts, LSHOptions(exact=True, shards=1, params=p))
    four = lsh_decisions(texts, LSHOptions(exact=True, shards=4, params=p))
    assert one.candidate_pairs == four.candidate_pairs and one.edges == four.edges
    assert np.array_equal(one.decisions.keep, four.decisions.keep)
    assert np.array_equal(one.decisions.similar_to, four.decisions.similar_to)


# -- the command -------------------------------------------------------------------------

def test_cli_minhash_lsh_exact(tmp_path):
    from tane.cli import app

    texts, _ = make_corpus(600, "ja", seed=2)
    rows = [{"id": i, "instruction": t} for i, t in enumerate(texts)] + [{"id": "x"}]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--method",
                                   "minhash-lsh", "--exact", "--tokenizer", "char",
                                   "--lang", "ja", "--shards", "3"])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
    rejected = [json.loads(x) for x in
                (tmp_path / "out.rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(kept) + len(rejected) == len(rows)
    assert f"{len(rows)} rows in, {len(kept)} kept" in res.output
    near = [r for r in rejected if r["_drop"]["reason"] == "near_duplicate"]
    assert near and all(r["_drop"]["detail"]["measure"] == "rouge_l" for r in near)
    assert all(r["_drop"]["detail"]["similar_to"] in kept for r in near)
    assert [r["id"] for r in rejected if r["_drop"]["reason"] == "missing_field"] == ["x"]


def test_cli_minhash_lsh_bad_option_is_one_line_exit_2(tmp_path):
    from tane.cli import app

    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "a b c"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--method",
                                   "minhash-lsh", "--resolve", "transitive"])
    assert res.exit_code == 2 and "resolve" in res.output
    assert not out.exists()
    res = CliRunner().invoke(app, ["dedup", str(src), "-o", str(out), "--method", "simhash"])
    assert res.exit_code == 2 and "method" in res.output


# -- Ray Data ------------------------------------------------------------------------------

def _ray_data():
    try:
        import ray
        import ray.data
    except ImportError:
        return None
    return ray


@pytest.mark.slow
@pytest.mark.skipif(_ray_data() is None, reason="ray[data] is not installed")
def test_ray_data_gives_the_local_pairs_and_decisions():
    ray = _ray_data()
    texts, _ = make_corpus(1500, "ja", seed=7)
    p = lsh.LSHParams(tokenizer="char", lang="ja")
    local = lsh_decisions(texts, LSHOptions(exact=True, params=p))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        dist = lsh_decisions(texts, LSHOptions(exact=True, shards=4, params=p),
                             executor="ray")
    finally:
        ray.shutdown()
    assert dist.candidate_pairs == local.candidate_pairs and dist.edges == local.edges
    assert np.array_equal(dist.decisions.keep, local.decisions.keep)


def test_lsh_dedup_screens_rows_as_the_exact_dedup_does(tmp_path):
    # the same screening as tane dedup: an oversized row is a too_long drop that no
    # tokenizer sees, a missing field is missing_field; an output that is a folder is refused
    from tane.config.limits import MAX_FIELD_CHARS
    from tane.curate.lsh_dedup import dedup_file_lsh

    rows = [{"instruction": "日本の首都について説明してください。"},
            {"instruction": "猫" * (MAX_FIELD_CHARS + 1)},
            {"other": "x"}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    rep = dedup_file_lsh(src, tmp_path / "out.jsonl", opts=LSHOptions(exact=True))
    assert rep.kept == 1
    assert rep.dropped_by_reason == {"missing_field": 1, "too_long": 1}
    (tmp_path / "dir").mkdir()
    with pytest.raises(TaneError, match="is a directory"):
        dedup_file_lsh(src, tmp_path / "dir", opts=LSHOptions(exact=True))
