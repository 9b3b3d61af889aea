"""Benchmark: tane's exact greedy ROUGE-L dedup (NoveltyIndex) at scale, and vs rouge_score.

    python bench/dedup.py [--n-compare 700] [--n-large 100000] [--methods baseline,scan,join,auto]
        [--million [--n-million 1000000] [--million-methods auto]] [--langs en,ja,ja-morph]
        [--timeout SECONDS] [--skip-compare] [--skip-large] [--n-minhash 20000] [--cli]

Generates deterministic synthetic instruction sets (how they are built: see "synthetic
instructions" below) with a known share of planted near-duplicates. Cases: ``en``
(rouge tokenizer), ``ja`` (the same Japanese corpus with character tokens) and
``ja-morph`` (MeCab morphemes, what tokenizer ``auto`` picks for Japanese with the `ja`
extra). Methods: NoveltyIndex's (``auto``, ``scan``, ``join``, ``prefilter``), plus
``baseline`` (the plain scan without folded codes) and ``join-numpy`` (the join without
its compiled kernel, as without numba).

- compare: tane vs a plain rouge_score greedy loop on --n-compare items: times and
  whether the kept sets are identical (needs the dev dependency rouge-score).
- large: each of --methods on --n-large items, each run in its own process (wall and
  cpu time, peak RSS, kept count, dropped planted duplicates, load average before and
  after) with ratios against ``baseline`` (the plain C++ scan, no folded codes) and a
  check that every method keeps exactly the same items.
- --million: --million-methods on --n-million items the same way.
- --cli: the same corpora as JSONL through `tane dedup` and `tane curate` (a recipe with
  only ``near_dup``), whole commands timed.
- --n-minhash N (> 0): MinHash-LSH (extra `dedup`) vs exact ROUGE-L on N items: recall =
  share of exact drops MinHash also drops, precision = share of MinHash drops that exact
  drops too, and times.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from tane.curate.rouge import NoveltyIndex
from tane.curate.tokenize import get_tokenizer

# -- synthetic instructions ---------------------------------------------------------
# Built from real text, deterministic for a seed:
# - skeletons: the 68 human-written seed instructions of the language
#   (src/tane/seeds/data/<lang>.jsonl);
# - vocabulary, ranked: English: words of the seeds and of Python's own documentation
#   (pydoc_data.topics) by frequency, then the English glosses of UniDic's katakana
#   loanwords (unidic-lite, the `ja` extra); Japanese: kanji/katakana words of the seeds
#   by frequency, then UniDic's common nouns. Words are drawn Zipf-like (weight
#   1/(rank+10)).
# - a fresh instruction is a skeleton (40 %: the head of one spliced onto the tail of
#   another) whose content words (English: alphabetic, over 3 letters, not a stop
#   word; Japanese: runs of 2+ kanji/katakana) are each replaced with probability 0.7
#   (Japanese 0.9) by a vocabulary word, plus 0-3 (Japanese 2-5) inserted words;
# - near-duplicates, planted at known rates: dup_rate (20 %) of the items are light
#   edits of a uniformly chosen earlier item (about 10 % of the tokens deleted,
#   inserted, replaced or swapped), hard_rate (5 %) heavier edits (about 35 %), which
#   straddle the 0.7 threshold. Tokens are words (English) or script runs (Japanese).
SEEDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tane",
                         "seeds", "data")
_JA_RUN = re.compile(r"[\u4e00-\u9fff\u3005]+|[\u3040-\u309f]+|[\u30a0-\u30ff\u30fc]+"
                     r"|[A-Za-z0-9]+|\s+|.")
_JA_CONTENT = re.compile(r"[\u4e00-\u9fff\u3005\u30a0-\u30ff\u30fc]{2,}$")
_EN_WORD = re.compile(r"[A-Za-z]+")
_EN_STOP = frozenset(["the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "with", "as", "is", "are", "be", "this", "that", "it", "by", "from", "at", "into", "your", "you", "its", "their"])


def _seed_texts(lang: str) -> tuple[list[str], list[str]]:
    with open(os.path.join(SEEDS_DIR, f"{lang}.jsonl"), encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    instr = [r["instruction"] for r in rows]
    other = [v for r in rows for i in r.get("instances", [])
             for v in (i.get("input", ""), i.get("output", "")) if v]
    return instr, other


def _ja_tokens(text: str) -> list[str]:
    return [t for t in _JA_RUN.findall(text) if not t.isspace()]


_UNIDIC: dict[str, list[str]] = {}


def _unidic_words(kind: str) -> list[str]:
    """English loanword glosses ("en") or common nouns ("ja") from unidic-lite's
    dictionary, in dictionary order; [] without unidic-lite."""
    if not _UNIDIC:
        _UNIDIC["en"], _UNIDIC["ja"] = [], []
        try:
            import unidic_lite
        except ImportError:
            return []
        with open(os.path.join(unidic_lite.DICDIR, "sys.dic"), "rb") as fh:
            data = fh.read().decode("utf-8", "ignore")
        _UNIDIC["en"] = list(dict.fromkeys(
            re.findall(r",[\u30a0-\u30ff]+-([a-z]{3,})[,\x00]", data)))
        nouns = re.findall(r"名詞,普通名詞,一般,\*,\*,\*,[^,\x00]*,([^,\x00]+)", data)
        _UNIDIC["ja"] = list(dict.fromkeys(w for w in nouns if _JA_CONTENT.match(w)))
    return _UNIDIC[kind]


def vocabulary(lang: str) -> list[str]:
    instr, other = _seed_texts(lang)
    if lang == "en":
        from pydoc_data import topics

        text = " ".join(instr + other + list(topics.topics.values()))
        counts = Counter(w.lower() for w in _EN_WORD.findall(text) if len(w) > 2)
        head = [w for w, _ in counts.most_common() if w not in _EN_STOP]
    else:
        counts = Counter(t for s in instr + other for t in _ja_tokens(s)
                         if _JA_CONTENT.match(t))
        head = [w for w, _ in counts.most_common()]
    return list(dict.fromkeys(head + _unidic_words(lang)))


class _Gen:
    def __init__(self, rng: random.Random, lang: str):
        self.rng, self.lang = rng, lang
        instr, _ = _seed_texts(lang)
        self.skeletons = [self.tokens(t) for t in instr]
        self.vocab = vocabulary(lang)
        self.cum = list(itertools.accumulate(1.0 / (i + 10) for i in range(len(self.vocab))))
        self.fill = [t for s in self.skeletons for t in s]

    def tokens(self, text: str) -> list[str]:
        return _ja_tokens(text) if self.lang == "ja" else text.split()

    def join(self, toks: list[str]) -> str:
        return "".join(toks) if self.lang == "ja" else " ".join(toks)

    def word(self) -> str:
        return self.rng.choices(self.vocab, cum_weights=self.cum)[0]

    def content(self, tok: str) -> bool:
        if self.lang == "ja":
            return bool(_JA_CONTENT.match(tok))
        core = tok.strip(".,:;!?\"'()").lower()
        return len(core) > 3 and core.isalpha() and core not in _EN_STOP

    def fresh(self) -> str:
        rng, ja = self.rng, self.lang == "ja"
        toks = list(rng.choice(self.skeletons))
        if rng.random() < 0.4:
            other = rng.choice(self.skeletons)
            toks = toks[:rng.randint(1, len(toks))] + other[rng.randint(0, len(other) - 1):]
        out = []
        for t in toks:
            if self.content(t) and rng.random() < (0.9 if ja else 0.7):
                w = self.word()
                out.append(w if ja else w + t[len(t.rstrip(".,:;!?")):])
            else:
                out.append(t)
        for _ in range(rng.randint(0, 3) + (2 if ja else 0)):
            out.insert(rng.randrange(len(out) + 1), self.word())
        return self.join(out)

    def perturb(self, text: str, rate: float) -> str:
        rng = self.rng
        toks = self.tokens(text)
        for _ in range(max(1, round(len(toks) * rate * rng.uniform(0.5, 1.5)))):
            op = rng.random()
            if op < 0.3 and len(toks) > 2:
                toks.pop(rng.randrange(len(toks)))
            elif op < 0.6:
                toks.insert(rng.randrange(len(toks) + 1), rng.choice(self.fill))
            elif op < 0.85:
                toks[rng.randrange(len(toks))] = self.word()
            elif len(toks) > 1:
                i = rng.randrange(len(toks) - 1)
                toks[i], toks[i + 1] = toks[i + 1], toks[i]
        return self.join(toks)


def make_corpus(n: int, lang: str, seed: int = 0, dup_rate: float = 0.2,
                hard_rate: float = 0.05) -> tuple[list[str], list[int]]:
    """n synthetic instructions and their kind: 0 fresh, 1 light edit of an earlier
    item (planted near-duplicate), 2 heavy edit (near the threshold)."""
    rng = random.Random(f"{seed}-{lang}")
    gen = _Gen(rng, lang)
    out: list[str] = []
    kinds: list[int] = []
    for _ in range(n):
        u = rng.random()
        if out and u < dup_rate:
            out.append(gen.perturb(rng.choice(out), 0.1))
            kinds.append(1)
        elif out and u < dup_rate + hard_rate:
            out.append(gen.perturb(rng.choice(out), 0.35))
            kinds.append(2)
        else:
            out.append(gen.fresh())
            kinds.append(0)
    return out, kinds


def make_instructions(n: int, lang: str, seed: int = 0) -> list[str]:
    return make_corpus(n, lang, seed)[0]


class Tokenizer:
    """A tane tokenizer as an object for rouge_score.RougeScorer(tokenizer=...)."""

    def __init__(self, name: str, lang: str | None):
        self.tokenize = get_tokenizer(name, lang)


def rouge_score_greedy(texts: list[str], tokenizer, threshold: float = 0.7) -> list[bool]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=tokenizer)
    kept: list[str] = []
    decisions = []
    for text in texts:
        scores = [scorer.score(text, k)["rougeL"].fmeasure for k in kept]
        if scores and max(scores) > threshold:
            decisions.append(False)
            continue
        kept.append(text)
        decisions.append(True)
    return decisions


def tane_greedy(texts: list[str], tokenizer: str, lang: str | None,
                method: str = "auto", on_progress=None) -> list[bool]:
    index = NoveltyIndex(tokenizer=tokenizer, lang=lang, threshold=0.7, method=method)
    return [r.keep for r in index.check_batch_and_add(texts, on_progress=on_progress)]


# case -> (corpus language, tokenizer, tokenizer language); "ja-morph" is what
# tokenizer auto picks for Japanese when fugashi is installed (extra `ja`)
CASES = {"en": ("en", "rouge", None), "ja": ("ja", "char", "ja"),
         "ja-morph": ("ja", "morph", "ja")}
# "baseline": the plain scan as it was before folded codes (rouge._FOLD = False);
# "join-numpy": the join without its compiled kernel (rouge._KERNEL = False)
METHOD_NAMES = ("baseline", "scan", "join", "join-numpy", "prefilter", "auto")


def _progress(label: str):
    t0 = time.perf_counter()
    step = [0]

    def cb(done: int, total: int) -> None:
        if done * 10 // total > step[0] or done == total:
            step[0] = done * 10 // total
            print(f"  [{label}] {done}/{total} after {time.perf_counter() - t0:.0f}s, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return cb


def peak_rss_mib() -> float:
    """Peak resident set of this process image (VmHWM; ru_maxrss would carry over the
    parent's peak through fork+exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def corpus_file(lang: str, n: int, seed: int) -> str:
    """The corpus written once to a temporary file (children read it: generating it
    reads UniDic's dictionary, which would inflate their peak RSS)."""
    import tempfile

    path = os.path.join(tempfile.gettempdir(), f"tane-bench-dedup-{lang}-{n}-{seed}.json")
    if not os.path.exists(path):
        texts, kinds = make_corpus(n, lang, seed=seed)
        with open(path + ".part", "w", encoding="utf-8") as fh:
            json.dump({"texts": texts, "kinds": kinds}, fh, ensure_ascii=False)
        os.replace(path + ".part", path)
    return path


def run_case(lang: str, method: str, path: str) -> dict:
    """One dedup run in this process (call it in a fresh process for its peak RSS)."""
    import tane.curate.rouge as rouge_mod

    _, tok, tlang = CASES[lang]
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    texts, kinds = data["texts"], data["kinds"]
    n = len(texts)
    del data
    if method == "baseline":
        rouge_mod._FOLD = False
    if method == "join-numpy":
        rouge_mod._KERNEL = False
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    keep = tane_greedy(texts, tok, tlang, method={"baseline": "scan", "join-numpy": "join"}
                       .get(method, method),
                       on_progress=_progress(f"{lang} {method} {n}"))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    planted = Counter(k for k in kinds)
    dropped = Counter(k for k, kp in zip(kinds, keep) if not kp)
    return {"lang": lang, "method": method, "n": n, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "peak_rss_mib": round(peak_rss_mib()), "kept": sum(keep),
            "keep_sha1": hashlib.sha1(bytes(keep)).hexdigest()[:12],
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "planted": {k: planted[k] for k in (0, 1, 2)},
            "dropped": {k: dropped[k] for k in (0, 1, 2)}}


def run_child(lang: str, method: str, n: int, seed: int, timeout: float | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", lang, method,
           corpus_file(CASES[lang][0], n, seed)]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout,
                             check=True).stdout
    except subprocess.TimeoutExpired:
        return {"lang": lang, "method": method, "n": n, "timeout_s": timeout}
    return json.loads(out.strip().splitlines()[-1])


def cli_case(lang: str, n: int, seed: int, timeout: float | None) -> None:
    """The user's path: the corpus as JSONL through `tane dedup` and through `tane curate`
    with a near_dup-only recipe, each in its own process (whole command: reading,
    tokenizing, join, walk, writing); kept counts must equal NoveltyIndex's."""
    import tempfile

    clang, tok, tlang = CASES[lang]
    with open(corpus_file(clang, n, seed), encoding="utf-8") as fh:
        texts = json.load(fh)["texts"]
    tane = os.path.join(os.path.dirname(sys.executable), "tane")
    with tempfile.TemporaryDirectory(prefix="tane-bench-cli-") as d:
        src = os.path.join(d, "in.jsonl")
        with open(src, "w", encoding="utf-8") as fh:
            for i, t in enumerate(texts):
                fh.write(json.dumps({"id": i, "instruction": t}, ensure_ascii=False) + "\n")
        cfg = os.path.join(d, "near_dup.yaml")
        with open(cfg, "w", encoding="utf-8") as fh:
            fh.write(f"lang: {tlang or 'en'}\nsteps:\n  - name: near_dup\n"
                     f"    tokenizer: {tok}\n")
        del texts
        for name, cmd in (
                ("tane dedup", [tane, "dedup", src, "-o", os.path.join(d, "a.jsonl"),
                                "--tokenizer", tok] + (["--lang", tlang] if tlang else [])),
                ("tane curate near_dup", [tane, "curate", src, "-r", cfg, "-o",
                                          os.path.join(d, "b.jsonl")])):
            t0 = time.perf_counter()
            try:
                res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"[{lang} {name}] n={n}: not finished within {timeout:.0f} s",
                      flush=True)
                continue
            wall = time.perf_counter() - t0
            out_file = cmd[cmd.index("-o") + 1]
            kept = sum(1 for _ in open(out_file, encoding="utf-8")) if res.returncode == 0 else -1
            print(f"[{lang} {name}] n={n}: {wall:.1f} s wall, exit {res.returncode}, kept "
                  f"{kept}, load {os.getloadavg()[0]:.1f}", flush=True)
            if res.returncode:
                print(res.stdout[-2000:], flush=True)


def report(rows: list[dict]) -> None:
    base = {(r["lang"], r["n"]): r for r in rows if r["method"] == "baseline" and "kept" in r}
    for r in rows:
        if "kept" not in r:
            print(f"[{r['lang']} {r['method']}] n={r['n']}: not finished within "
                  f"{r['timeout_s']:.0f} s", flush=True)
            continue
        b = base.get((r["lang"], r["n"]))
        vs = ""
        if b is not None and r is not b:
            vs = (f"; vs baseline {b['wall_s'] / max(r['wall_s'], 1e-9):.1f}x wall, "
                  f"{b['cpu_s'] / max(r['cpu_s'], 1e-9):.1f}x cpu, same decisions: "
                  f"{r['keep_sha1'] == b['keep_sha1']}")
        planted, dropped = r["planted"], r["dropped"]
        print(f"[{r['lang']} {r['method']}] n={r['n']}: {r['wall_s']:.1f} s wall "
              f"({r['cpu_s']:.1f} s cpu), peak RSS {r['peak_rss_mib']} MiB, kept "
              f"{r['kept']} (dropped: planted light edits {dropped['1']}/{planted['1']}, "
              f"heavy {dropped['2']}/{planted['2']}, fresh {dropped['0']}/{planted['0']}), "
              f"load {r['load_before']:.1f}->{r['load_after']:.1f}{vs}", flush=True)


def minhash_case(lang: str, tok: str, tlang: str | None, n: int) -> None:
    from tane.curate.minhash import MinHashIndex

    texts = make_instructions(n, CASES[lang][0], seed=3)
    t0 = time.perf_counter()
    exact = tane_greedy(texts, tok, tlang)
    t_exact = time.perf_counter() - t0
    t0 = time.perf_counter()
    mh = MinHashIndex(num_perm=128, threshold=0.7, lang=tlang or lang)
    approx = mh.check_batch_and_add(texts)
    t_mh = time.perf_counter() - t0
    ex_drop = {i for i, k in enumerate(exact) if not k}
    mh_drop = {i for i, k in enumerate(approx) if not k}
    both = len(ex_drop & mh_drop)
    print(f"[minhash {lang}] n={n} shingles={'char' if mh._char_mode(texts[0]) else 'word'}"
          f" {mh.ngram or (2 if mh._char_mode(texts[0]) else 1)}-grams num_perm=128 "
          f"jaccard>=0.7: exact drops {len(ex_drop)} ({t_exact:.1f}s), minhash drops "
          f"{len(mh_drop)} ({t_mh:.1f}s); recall {both / max(1, len(ex_drop)):.3f}, "
          f"precision {both / max(1, len(mh_drop)):.3f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-compare", type=int, default=700)
    ap.add_argument("--n-large", type=int, default=100_000)
    ap.add_argument("--methods", default="baseline,scan,join,auto",
                    help=f"for --n-large, from {','.join(METHOD_NAMES)}")
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--n-million", type=int, default=1_000_000)
    ap.add_argument("--million-methods", default="auto")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per run (child process), then reported as unfinished")
    ap.add_argument("--n-minhash", type=int, default=0)
    ap.add_argument("--cli", action="store_true",
                    help="also time `tane dedup` and `tane curate` (near_dup) on the "
                         "--n-large (and with --million, --n-million) corpus as JSONL")
    ap.add_argument("--langs", default="en,ja,ja-morph",
                    help=f"cases, from {','.join(CASES)}")
    ap.add_argument("--one", nargs=3, metavar=("LANG", "METHOD", "CORPUS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(*args.one), ensure_ascii=False), flush=True)
        return
    print(f"python {platform.python_version()}, {os.cpu_count()} cpu(s), load average "
          f"{os.getloadavg()[0]:.1f}; rouge_score side single-process, tane side "
          f"rapidfuzz workers=-1; threshold 0.7; vocabulary "
          + ", ".join(f"{lang} {len(vocabulary(lang))} words" for lang in ("en", "ja")))
    langs = args.langs.split(",")
    unknown = [lang for lang in langs if lang not in CASES]
    if unknown:
        ap.error(f"--langs: unknown {','.join(unknown)} (from {','.join(CASES)})")
    if not args.skip_compare:
        for lang in langs:
            clang, tok, tlang = CASES[lang]
            texts = make_instructions(args.n_compare, clang)
            t0, c0 = time.perf_counter(), time.process_time()
            ours = tane_greedy(texts, tok, tlang)
            t_tane, c_tane = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            ref = rouge_score_greedy(texts, None if tok == "rouge" else Tokenizer(tok, tlang))
            t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
            print(f"[compare {lang}] n={len(texts)} tokenizer={tok}: "
                  f"rouge_score {t_ref:.2f}s (cpu {c_ref:.2f}s), "
                  f"tane {t_tane:.3f}s (cpu {c_tane:.3f}s), "
                  f"speedup {t_ref / max(t_tane, 1e-9):.0f}x wall / "
                  f"{c_ref / max(c_tane, 1e-9):.0f}x cpu; kept {sum(ref)} vs {sum(ours)}; "
                  f"kept sets identical: {ours == ref}", flush=True)
    runs = []
    if not args.skip_large:
        for lang in langs:
            for method in filter(None, args.methods.split(",")):
                runs.append(run_child(lang, method, args.n_large, 1, args.timeout))
                report(runs[-1:])
    if args.million:
        for lang in langs:
            for method in filter(None, args.million_methods.split(",")):
                runs.append(run_child(lang, method, args.n_million, 2, args.timeout))
                report(runs[-1:])
    if len(runs) > 1:
        print("summary:")
        report(runs)
    if args.cli:
        for lang in langs:
            if not args.skip_large:
                cli_case(lang, args.n_large, 1, args.timeout)
            if args.million:
                cli_case(lang, args.n_million, 2, args.timeout)
    if args.n_minhash > 0:
        for lang in langs:
            _, tok, tlang = CASES[lang]
            minhash_case(lang, tok, tlang, args.n_minhash)


if __name__ == "__main__":
    main()
