"""Embedding dedup (``embedding_dup``): speed on 10k items and agreement with ROUGE-L.

    python bench/embed_dedup.py speed [--n 10000] [--lang ja]
    python bench/embed_dedup.py agree

speed: synthetic instructions from bench/dedup.py (about 30% edited copies), all through
the step as one batch (encoding + greedy cosine), against ``near_dup`` on the same texts;
wall and CPU seconds (the CPU figure is what to compare on a busy machine).

agree: the bundled ja and en seed instructions (68 each), each with one edited copy
(ja: a modifier prefixed, 「てください」 shortened, or a word inserted; en: a word
dropped, inserted or replaced); each language on its own. Pairs with
ROUGE-L F > 0.7 (char tokens for ja, rouge_score's for en) are the reference; for each
cosine threshold the share of those pairs at or above it (recall), the share of pairs
at or above it that ROUGE-L also calls near-duplicates (precision), and how many
keep/drop decisions of the greedy pass agree.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup import make_instructions  # noqa: E402

from tane.curate.embed import encode  # noqa: E402
from tane.curate.rouge import rouge_l_f  # noqa: E402
from tane.curate.stage import run_batch  # noqa: E402
from tane.curate.steps import Fields, make_step  # noqa: E402
from tane.curate.tokenize import get_tokenizer  # noqa: E402


def speed(n: int, lang: str) -> dict:
    texts = make_instructions(n, lang, seed=1)
    out = {"n": n, "lang": lang}
    for name, params in (("embedding_dup", {}), ("near_dup", {})):
        step = make_step(name, lang, **params)
        fs = [Fields(instruction=t, id=i) for i, t in enumerate(texts)]
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_batch([step], fs)
        out[name] = {"seconds": round(time.perf_counter() - t0, 2),
                     "cpu_seconds": round(time.process_time() - c0, 2),
                     "dropped": sum(r is not None for r in res)}
    t0, c0 = time.perf_counter(), time.process_time()
    encode(texts[:2000])
    out["encode_2k"] = {"seconds": round(time.perf_counter() - t0, 2),
                        "cpu_seconds": round(time.process_time() - c0, 2)}
    return out


def _edit(text: str, lang: str, rng: random.Random) -> str:
    if lang == "ja":
        op = rng.random()
        if op < 0.4:
            return "簡潔に" + text
        if op < 0.7 and "てください" in text:
            return text.replace("てください", "て", 1)
        pos = rng.randrange(len(text))
        return text[:pos] + "特に" + text[pos:]
    words = text.split()
    op = rng.random()
    if op < 0.35 and len(words) > 3:
        words.pop(rng.randrange(len(words)))
    elif op < 0.7:
        words.insert(rng.randrange(len(words) + 1), "briefly")
    else:
        words[rng.randrange(len(words))] = "this"
    return " ".join(words)


def agree() -> dict:
    root = Path(__file__).resolve().parents[1] / "src/tane/seeds/data"
    rng = random.Random(0)
    report: dict = {}
    for lang, tok in (("ja", "char"), ("en", "rouge")):
        seeds = [json.loads(x)["instruction"] for x in
                 (root / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines() if x]
        texts = list(itertools.chain.from_iterable((s, _edit(s, lang, rng)) for s in seeds))
        tk = get_tokenizer(tok, lang)
        toks = [tk(t) for t in texts]
        vecs = encode(texts)
        pairs = list(itertools.combinations(range(len(texts)), 2))
        rouge = {(i, j) for i, j in pairs if rouge_l_f(toks[i], toks[j]) > 0.7}
        cos = {(i, j): float(vecs[i] @ vecs[j]) for i, j in pairs}
        near = make_step("near_dup", lang, tokenizer=tok)
        ref = [r is None for r in run_batch([near], [Fields(instruction=t, id=i)
                                                     for i, t in enumerate(texts)])]
        rows = {}
        for thr in (0.7, 0.8, 0.85, 0.9, 0.95):
            emb = {p for p, c in cos.items() if c >= thr}
            step = make_step("embedding_dup", lang, threshold=thr)
            got = [r is None for r in run_batch([step], [Fields(instruction=t, id=i)
                                                        for i, t in enumerate(texts)])]
            rows[thr] = {"pairs": len(emb),
                         "recall": round(len(emb & rouge) / max(1, len(rouge)), 3),
                         "precision": round(len(emb & rouge) / max(1, len(emb)), 3),
                         "decisions_agree": round(sum(a == b for a, b in zip(ref, got))
                                                  / len(texts), 3)}
        report[lang] = {"texts": len(texts), "rouge_pairs": len(rouge),
                        "rouge_drops": ref.count(False), "by_threshold": rows}
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["speed", "agree"])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--lang", default="ja")
    a = ap.parse_args()
    res = speed(a.n, a.lang) if a.what == "speed" else agree()
    print(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
