"""Degenerate repetition of n-grams and lines."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field

from tane.curate.steps.base import FieldName, Fields, Params, Result, Step, is_cjk_lang, \
    normalize, text_lang

# a unit of 1-12 characters holding a letter or digit, then the same unit again (spaces
# between allowed): "0000…", "1. 1. 1. …", "はいはいはい…"; runs of punctuation alone
# ("------", "……") are not units
_RUN = re.compile(r"(\S(?:.{0,11}?))(?:\s*\1){%d,}", re.DOTALL)


def longest_run(text: str, min_repeats: int) -> tuple[str, int, int] | None:
    """(unit, times, characters covered) of the longest stretch where a unit of 1-12
    characters with a letter or digit repeats at least ``min_repeats`` times in a row."""
    best = None
    rx = _RUN_CACHE.get(min_repeats)
    if rx is None:
        rx = _RUN_CACHE[min_repeats] = re.compile(_RUN.pattern % (min_repeats - 1), re.DOTALL)
    for m in rx.finditer(text):
        unit = m.group(1)
        if not any(c.isalnum() for c in unit):
            continue
        span = m.end() - m.start()
        if best is None or span > best[2]:
            times = len(re.findall(re.escape(unit), m.group(0)))
            best = (unit, times, span)
    return best


_RUN_CACHE: dict[int, re.Pattern[str]] = {}
# a list item's number or bullet: "1. ケーキ" and "2. ケーキ" repeat the same line
_LIST_MARK = re.compile(r"^(?:[-*+・•●]|\(?\d{1,3}[.)．）、]|[①-⑳])\s*")


class Repetition(Step):
    """Degenerate repetition: a unit of 1-12 characters with a letter or digit repeated
    ``min_run_repeats`` times or more in a row over ``min_run_chars`` characters or more
    ("0000…", "1. 1. 1. …"); the share of the text that repeats earlier text: token
    positions covered by an n-gram that already occurred before (characters for
    ja/zh/ko, words otherwise; texts shorter than ``min_tokens`` tokens are not judged),
    so a phrase said twice counts once, not twice; and the share of non-blank lines that
    repeat an earlier line, list numbers and bullets aside (with at least ``min_lines``
    lines). An empty input is not judged."""

    name = "repetition"
    reasons = ("run", "lines", "ngram")

    class Params(Params):
        fields: list[FieldName] = ["instruction", "input", "output"]
        min_run_repeats: int = Field(6, ge=2, description="a unit repeated this often in "
                                                          "a row")
        min_run_chars: int = Field(16, ge=1, description="...covering this many characters")
        ngram: Optional[int] = Field(None, ge=1, description="default 10 (chars) / 5 (words)")
        max_ngram_share: float = Field(0.3, ge=0.0, le=1.0)
        min_tokens: Optional[int] = Field(None, ge=1, description="default 50 / 20")
        max_dup_line_share: float = Field(0.3, ge=0.0, le=1.0)
        min_lines: int = Field(4, ge=2)

    def check(self, f: Fields) -> Result:
        for name in self.p.fields:
            text = f.get(name)
            if not text:
                continue
            lines = [_LIST_MARK.sub("", normalize(x)) for x in text.splitlines() if x.strip()]
            if len(lines) >= self.p.min_lines:
                dup = len(lines) - len(set(lines))
                if dup / len(lines) > self.p.max_dup_line_share:
                    return self.fail("lines", field=name, dup_lines=dup, lines=len(lines),
                                     share=round(dup / len(lines), 3),
                                     max=self.p.max_dup_line_share)
            chars = is_cjk_lang(text_lang(text, self.lang))
            toks = ([c for c in normalize(text) if not c.isspace()] if chars
                    else normalize(text).lower().split())
            n = self.p.ngram or (10 if chars else 5)
            min_tokens = self.p.min_tokens or (50 if chars else 20)
            if len(toks) >= max(min_tokens, n + 1):
                hit = self._ngrams(name, toks, n, chars)
                if hit:
                    return hit
            # short texts too: one unit over and over
            run = longest_run(text, self.p.min_run_repeats)
            if run and run[2] >= self.p.min_run_chars:
                return self.fail("run", field=name, unit=run[0], times=run[1], chars=run[2],
                                 min_repeats=self.p.min_run_repeats)
        return None

    def _ngrams(self, name: str, toks: list[str], n: int, chars: bool) -> Result:
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        counts: dict[tuple, int] = {}
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
        # only the later occurrences: natural text names a term or a phrase twice
        covered = [False] * len(toks)
        seen: set[tuple] = set()
        for i, g in enumerate(grams):
            if g in seen:
                for j in range(i, i + n):
                    covered[j] = True
            seen.add(g)
        share = sum(covered) / len(toks)
        if share > self.p.max_ngram_share:
            top = max(counts.items(), key=lambda kv: kv[1])
            return self.fail("ngram", field=name, share=round(share, 3), n=n,
                             unit="chars" if chars else "words",
                             max=self.p.max_ngram_share,
                             most_repeated=("" if chars else " ").join(top[0]),
                             times=top[1])
        return None
