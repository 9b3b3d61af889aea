"""Benchmark: tane's NoveltyIndex vs a plain rouge_score greedy loop (Self-Instruct style).

    python bench/dedup.py [--n-compare 700] [--n-large 100000] [--skip-compare]
        [--million [--n-million 1000000] [--langs en,ja]] [--n-minhash 20000]

Generates deterministic synthetic instruction sets (English and Japanese, templated, with
near-duplicates), dedups the same data with both implementations, reports times, speed
ratio and whether the kept sets are identical; then times tane alone on --n-large items
and reports peak RSS. Needs the dev dependency rouge-score.

--million: exact greedy ROUGE-L with the prefix prefilter (method="prefilter") on
--n-million items per language (time, peak RSS via resource.getrusage).
--n-minhash N (> 0): MinHash-LSH (extra `dedup`) vs exact ROUGE-L on N items: recall =
share of exact drops MinHash also drops, precision = share of MinHash drops that exact
drops too, and times. Peak RSS is per process (ru_maxrss): run one language per process
(--langs en) for separate figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from tane.curate.rouge import NoveltyIndex  # noqa: E402
from tane.curate.tokenize import char_tokenize  # noqa: E402

EN_OPENERS = [
    "Write a short story about", "Explain to a child why", "List five facts about",
    "Summarize the debate over", "Give me three tips for handling", "Compare",
    "Describe the history of", "Write a haiku about", "Draft an email asking about",
    "Create a quiz on", "What are common mistakes with", "Suggest a name for",
    "Plan a weekend trip around", "Classify the tone of a review of", "Translate into French:",
    "Write a product description for", "Outline a lesson plan on", "Argue against",
    "Rewrite formally a complaint about", "Generate interview questions about",
    "Explain the difference between", "Brainstorm slogans for", "Write a recipe using",
    "Design a workout inspired by", "Tell a joke involving"]
EN_TAILS = [
    "", "in under 50 words.", "using bullet points.", "for a beginner audience.",
    "and keep it friendly.", "with one concrete example.", "in the style of a news report.",
    "without technical jargon.", "as a numbered list.", "and cite the key assumptions."]
EN_FUNC = "the a of and with for in on near from".split()
_SYL = "ka lo mi ren tor va shi pe dun gra lix mor sen tu bel cor fa nim ost rue".split()
JA_OPENERS = ["について", "に関して", "をテーマに", "の観点から", "と比較して"]
JA_ACTIONS = [
    "短い物語を書いてください。", "小学生にもわかるように説明してください。",
    "重要な点を五つ挙げてください。", "賛否両論をまとめてください。", "俳句を詠んでください。",
    "問い合わせのメールを書いてください。", "クイズを三問作ってください。",
    "よくある失敗と対策を教えてください。", "新しい名前を提案してください。",
    "週末の旅行計画を立ててください。", "商品説明文を書いてください。",
    "授業の指導案を作ってください。", "反対の立場から論じてください。",
    "面接の質問を考えてください。", "違いを説明してください。", "標語を考えてください。"]
JA_MODS = ["簡潔に", "具体例を交えて", "丁寧な言葉で", "箇条書きで", "百字以内で", ""]
_KANJI = ("山川田林森海空雨雪風花鳥魚犬猫牛馬米茶酒塩糖紙本机窓門道駅町村都市港橋船車"
          "電気光音色形力法律医薬病院学校会社銀行市場価格税金農業工業商業歴史文化芸術"
          "科学数理化物生地宇宙星月火水木金土石鉄銅")
_KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモラリルレロン"


def _vocab(rng: random.Random, lang: str, size: int) -> list[str]:
    words: dict[str, None] = {}  # insertion-ordered: rank = order of invention
    while len(words) < size:
        if lang == "ja":
            w = ("".join(rng.choice(_KANJI) for _ in range(2)) if rng.random() < 0.6
                 else "".join(rng.choice(_KANA) for _ in range(rng.randint(3, 5))))
        else:
            w = "".join(rng.choice(_SYL) for _ in range(rng.randint(1, 3)))
        words[w] = None
    return list(words)


class _Gen:
    def __init__(self, rng: random.Random, lang: str):
        self.rng, self.lang = rng, lang
        self.vocab = _vocab(rng, lang, 3000)
        self.weights = [1.0 / (i + 1) for i in range(len(self.vocab))]  # Zipf-like

    def words(self, k: int) -> list[str]:
        return self.rng.choices(self.vocab, weights=self.weights, k=k)

    def fresh(self) -> str:
        rng = self.rng
        if self.lang == "ja":
            topic = "の".join(self.words(rng.randint(2, 4)))
            other = "と".join(self.words(rng.randint(1, 2)))
            return (f"{topic}{rng.choice(JA_OPENERS)}{other}を題材に"
                    f"{rng.choice(JA_MODS)}{rng.choice(JA_ACTIONS)}")
        content = []
        for w in self.words(rng.randint(4, 12)):
            content.append(w)
            if rng.random() < 0.5:
                content.append(rng.choice(EN_FUNC))
        return f"{rng.choice(EN_OPENERS)} {' '.join(content)} {rng.choice(EN_TAILS)}".strip()

    def perturb(self, text: str) -> str:
        """A near-duplicate: a few word (English) or phrase/character (Japanese) edits."""
        rng = self.rng
        if self.lang == "ja":
            for _ in range(rng.randint(1, 2)):
                op = rng.random()
                if op < 0.3:
                    text = rng.choice(JA_MODS) + text
                elif op < 0.6:
                    text = text.replace("てください", "て", 1)
                else:
                    pos = rng.randrange(len(text))
                    text = text[:pos] + self.words(1)[0] + text[pos + 1:]
            return text
        words = text.split()
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if op < 0.35 and len(words) > 3:
                words.pop(rng.randrange(len(words)))
            elif op < 0.7:
                words.insert(rng.randrange(len(words) + 1), rng.choice(EN_FUNC + ["please"]))
            else:
                words[rng.randrange(len(words))] = self.words(1)[0]
        return " ".join(words)


def make_instructions(n: int, lang: str, seed: int = 0, dup_rate: float = 0.3) -> list[str]:
    """n synthetic instructions; about dup_rate of them are edits of a recent one."""
    rng = random.Random(f"{seed}-{lang}")
    gen = _Gen(rng, lang)
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup_rate:
            out.append(gen.perturb(rng.choice(out[-2000:])))
        else:
            out.append(gen.fresh())
    return out


class CharTokenizer:
    """A tokenizer object for rouge_score.RougeScorer(tokenizer=...)."""

    def tokenize(self, text: str) -> list[str]:
        return char_tokenize(text)


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


def _progress(label: str):
    t0 = time.perf_counter()
    step = [0]

    def cb(done: int, total: int) -> None:
        if done * 10 // total > step[0] or done == total:
            step[0] = done * 10 // total
            print(f"  [{label}] {done}/{total} after {time.perf_counter() - t0:.0f}s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return cb


def million_case(lang: str, tok: str, tlang: str | None, n: int) -> None:
    t0 = time.perf_counter()
    texts = make_instructions(n, lang, seed=2)
    gen = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    kept = tane_greedy(texts, tok, tlang, method="prefilter",
                       on_progress=_progress(f"million {lang}"))
    dt, ct = time.perf_counter() - t0, time.process_time() - c0
    print(f"[million {lang}] n={n} tokenizer={tok} method=prefilter: {dt:.1f}s "
          f"(cpu {ct:.1f}s; generating the data {gen:.1f}s), kept {sum(kept)}, "
          f"peak RSS so far {peak_rss_mib():.0f} MiB, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)


def minhash_case(lang: str, tok: str, tlang: str | None, n: int) -> None:
    from tane.curate.minhash import MinHashIndex

    texts = make_instructions(n, lang, seed=3)
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


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-compare", type=int, default=700)
    ap.add_argument("--n-large", type=int, default=100_000)
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--million", action="store_true")
    ap.add_argument("--n-million", type=int, default=1_000_000)
    ap.add_argument("--n-minhash", type=int, default=0)
    ap.add_argument("--langs", default="en,ja")
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} cpu(s), load average "
          f"{os.getloadavg()[0]:.1f}; rouge_score side single-process, tane side "
          f"rapidfuzz workers=-1; threshold 0.7")
    cases = [("en", "rouge", None, None), ("ja", "char", "ja", CharTokenizer())]
    cases = [c for c in cases if c[0] in args.langs.split(",")]
    if not args.skip_compare:
        for lang, tok, tlang, rs_tok in cases:
            texts = make_instructions(args.n_compare, lang)
            t0, c0 = time.perf_counter(), time.process_time()
            ours = tane_greedy(texts, tok, tlang)
            t_tane, c_tane = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            ref = rouge_score_greedy(texts, rs_tok)
            t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
            print(f"[compare {lang}] n={len(texts)} tokenizer={tok}: "
                  f"rouge_score {t_ref:.2f}s (cpu {c_ref:.2f}s), "
                  f"tane {t_tane:.3f}s (cpu {c_tane:.3f}s), "
                  f"speedup {t_ref / max(t_tane, 1e-9):.0f}x wall / "
                  f"{c_ref / max(c_tane, 1e-9):.0f}x cpu; kept {sum(ref)} vs {sum(ours)}; "
                  f"kept sets identical: {ours == ref}")
    for lang, tok, tlang, _ in cases if not args.skip_large else []:
        texts = make_instructions(args.n_large, lang, seed=1)
        t0, c0 = time.perf_counter(), time.process_time()
        kept = tane_greedy(texts, tok, tlang)
        dt, ct = time.perf_counter() - t0, time.process_time() - c0
        print(f"[large {lang}] n={len(texts)} tokenizer={tok}: tane {dt:.1f}s "
              f"(cpu {ct:.1f}s), kept {sum(kept)}, "
              f"peak RSS so far {peak_rss_mib():.0f} MiB")

    if args.n_minhash > 0:
        for lang, tok, tlang, _ in cases:
            minhash_case(lang, tok, tlang, args.n_minhash)
    if args.million:
        for lang, tok, tlang, _ in cases:
            million_case(lang, tok, tlang, args.n_million)


if __name__ == "__main__":
    main()
