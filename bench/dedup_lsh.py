"""Benchmark: MinHash-LSH dedup (`tane dedup --method minhash-lsh`) against exact greedy
ROUGE-L dedup on the same rows: recall, precision and time side by side.

    python bench/dedup_lsh.py [--n 100000] [--langs en,ja] [--bands 32] [--rows 4]
        [--max-bucket 200] [--shards 4] [--seed 3] [--json PATH]

Corpus: bench/dedup.py's synthetic instructions (the 68 human seed instructions of the
language as skeletons, real vocabulary, 20 % light and 5 % heavy planted edits of
earlier rows). Tokenizer ``auto`` as `tane dedup` picks it: English ``rouge``; Japanese
``morph`` with the ``ja`` extra (else characters).

For each language:
- exact: `NoveltyIndex` greedy ROUGE-L F > 0.7 (what `tane dedup` does by default);
- LSH candidates once (signatures per shard, buckets per band), then the decisions four
  ways: confirmation by exact ROUGE-L on the pairs (``--exact``) or by the estimated
  Jaccard (>= 0.538 = 0.7 / 1.3), each resolved greedily or by components.
recall = share of the exact drops that LSH also drops; precision = share of LSH's
drops that exact drops too. Times are wall seconds on this machine; the LSH steps
are each timed (tokenize, sign, bucket, confirm, resolve).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)

from dedup import make_corpus

from tane.curate import components as comp
from tane.curate import lsh
from tane.curate.rouge import NoveltyIndex
from tane.curate.tokenize import get_tokenizer, resolve_tokenizer_name


def recall_precision(exact_keep: np.ndarray, keep: np.ndarray) -> tuple[float, float]:
    ed, ld = ~exact_keep, ~keep
    both = int((ed & ld).sum())
    return both / max(1, int(ed.sum())), both / max(1, int(ld.sum()))


def run_lang(lang: str, n: int, seed: int, bands: int, rows: int, max_bucket: int | None,
             shards: int) -> dict:
    texts, kinds = make_corpus(n, lang, seed=seed)
    tok_name = resolve_tokenizer_name("auto", lang)
    print(f"[{lang}] {n} rows, tokenizer {tok_name}", flush=True)
    t0 = time.perf_counter()
    idx = NoveltyIndex(tokenizer="auto", lang=lang, threshold=0.7, top_k=1)
    exact_keep = np.array([r.keep for r in idx.check_batch_and_add(texts)])
    t_exact = time.perf_counter() - t0
    print(f"  exact greedy ROUGE-L: {int((~exact_keep).sum())} dropped in {t_exact:.1f} s",
          flush=True)

    p = lsh.LSHParams(bands=bands, rows=rows, tokenizer="auto", lang=lang)
    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    tok = get_tokenizer("auto", lang)
    token_lists = [tok(t) for t in texts]
    steps["tokenize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from tane.curate.lsh_dedup import shard_bounds

    sig_parts, key_parts, row_parts = [], [], []
    for a, b in shard_bounds(n, shards):
        s, ok = lsh.sign_tokens(token_lists[a:b], p)
        sig_parts.append(s)
        row_parts.append(np.flatnonzero(ok) + a)
        key_parts.append(lsh.band_keys(s[ok], p))
    sigs = np.concatenate(sig_parts)
    keys, rws = np.concatenate(key_parts), np.concatenate(row_parts)
    steps["sign"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = lsh.unique_pairs([lsh.bucket_pairs(keys[:, k], rws, max_bucket)
                              for k in range(bands)])
    steps["buckets"] = time.perf_counter() - t0
    print(f"  LSH {bands}x{rows} (max bucket {max_bucket}): {len(pairs)} candidate pairs; "
          f"tokenize {steps['tokenize']:.1f} s, sign {steps['sign']:.1f} s, buckets "
          f"{steps['buckets']:.1f} s", flush=True)
    base = sum(steps.values())
    t0 = time.perf_counter()
    enc = comp.encode(token_lists)
    ex_edges, ex_f = comp.confirm_exact(enc, pairs, 0.7)
    t_conf_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    jt = lsh.jaccard_floor(0.7)
    es_edges, es_j = comp.confirm_estimated(lsh.estimated_jaccard(sigs, pairs), pairs, jt)
    t_conf_est = time.perf_counter() - t0
    variants = []
    for conf, (edges, sc, t_conf) in (("exact ROUGE-L", (ex_edges, ex_f, t_conf_exact)),
                                      (f"estimated J>={jt:.3f}", (es_edges, es_j,
                                                                   t_conf_est))):
        for how in comp.RESOLVE:
            t0 = time.perf_counter()
            d = comp.resolve(n, edges, sc, how)
            t_res = time.perf_counter() - t0
            rec, prec = recall_precision(exact_keep, d.keep)
            secs = base + t_conf + t_res
            row = {"confirm": conf, "resolve": how, "edges": len(edges),
                   "dropped": int(d.dropped), "recall": round(rec, 4),
                   "precision": round(prec, 4), "seconds": round(secs, 2),
                   "confirm_s": round(t_conf, 2), "resolve_s": round(t_res, 2),
                   "time_vs_exact": round(secs / t_exact, 2),
                   "planted_light_dropped": int(((~d.keep) & (np.array(kinds) == 1)).sum())}
            variants.append(row)
            print(f"  LSH + {conf:<18} {how:<9}: dropped {d.dropped:>6} | recall "
                  f"{rec:.4f} precision {prec:.4f} | {secs:6.1f} s ({secs / t_exact:.2f}x "
                  f"exact's time; confirm {t_conf:.1f} s)", flush=True)
    return {"lang": lang, "n": n, "tokenizer": tok_name, "exact_dropped":
            int((~exact_keep).sum()), "exact_seconds": round(t_exact, 2),
            "bands": bands, "rows": rows, "max_bucket": max_bucket, "shards": shards,
            "candidate_pairs": len(pairs),
            "p_candidate_at_floor": round(lsh.candidate_probability(jt, bands, rows), 4),
            "steps_s": {k: round(v, 2) for k, v in steps.items()}, "variants": variants}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--langs", default="en,ja")
    ap.add_argument("--bands", type=int, default=32)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--max-bucket", type=int, default=200)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    results = [run_lang(lang, a.n, a.seed, a.bands, a.rows, a.max_bucket or None, a.shards)
               for lang in a.langs.split(",")]
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"load_after": os.getloadavg()[0], "results": results}, fh,
                      ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
