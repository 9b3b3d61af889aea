"""Degenerate repetition of n-grams and lines."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from tane.curate.steps.base import FieldName, Fields, Params, Result, Step, is_cjk_lang, \
    normalize, text_lang

class Repetition(Step):
    """Degenerate repetition: the share of n-gram positions covered by n-grams that occur
    more than once (characters for ja/zh/ko, words otherwise; texts shorter than
    ``min_tokens`` tokens are not judged), and the share of non-blank lines that repeat an
    earlier line (with at least ``min_lines`` lines)."""

    name = "repetition"
    reasons = ("lines", "ngram")

    class Params(Params):
        fields: list[FieldName] = ["instruction", "output"]
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
            lines = [normalize(x) for x in text.splitlines() if x.strip()]
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
            if len(toks) < max(min_tokens, n + 1):
                continue
            grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
            counts: dict[tuple, int] = {}
            for g in grams:
                counts[g] = counts.get(g, 0) + 1
            covered = [False] * len(toks)
            for i, g in enumerate(grams):
                if counts[g] > 1:
                    for j in range(i, i + n):
                        covered[j] = True
            share = sum(covered) / len(toks)
            if share > self.p.max_ngram_share:
                top = max(counts.items(), key=lambda kv: kv[1])
                return self.fail("ngram", field=name, share=round(share, 3), n=n,
                                 unit="chars" if chars else "words",
                                 max=self.p.max_ngram_share,
                                 most_repeated=("" if chars else " ").join(top[0]),
                                 times=top[1])
        return None
