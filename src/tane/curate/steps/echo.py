"""Echo and copies: the output restating the instruction, prompt echo and meta text,
instructions copied from a seed."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from tane.curate.rouge import NoveltyIndex, rouge_l_f
from tane.curate.steps.base import FieldName, Fields, Params, Result, Step, normalize
from tane.curate.tokenize import get_tokenizer


def _tokenizer(name: str, lang: str):
    """The step's tokenizer; ``auto`` is characters for ja, rouge_score's for en."""
    if name == "auto":
        name = {"ja": "char", "en": "rouge"}.get(lang, "auto")
    return get_tokenizer(name, None if lang == "any" else lang)


class RestatesQuestion(Step):
    """The output only restates the instruction: ROUGE-L F(output, instruction) above
    ``threshold`` (char tokenizer for ja, rouge_score's for en), or the normalised output
    is contained in the instruction while being at least ``contained_min_ratio`` of its
    length (so a label quoted among the options, 「ポジティブ」, is not a restatement)."""

    name = "restates_question"
    reasons = ("contained", "rouge")

    class Params(Params):
        threshold: float = Field(0.8, ge=0.0, le=1.0)
        tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
        contained_min_ratio: float = Field(0.5, ge=0.0, le=1.0)
        min_chars: int = Field(2, ge=0)

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.tokenize = _tokenizer(params.tokenizer, lang)

    def check(self, f: Fields) -> Result:
        if f.output is None:
            return None
        out, inst = normalize(f.output), normalize(f.instruction)
        if len(out) < self.p.min_chars or not inst:
            return None
        if out in inst and len(out) >= self.p.contained_min_ratio * len(inst):
            return self.fail("contained", output_chars=len(out), instruction_chars=len(inst))
        score = rouge_l_f(self.tokenize(inst), self.tokenize(out))
        if score > self.p.threshold:
            return self.fail("rouge", score=round(score, 4), threshold=self.p.threshold)
        return None


META_PATTERNS = [
    r"#\s*(?:Rewritten|Given|Created|Evolved|New)\s*Prompt\s*#",
    r"(?im)^\s*#{2,4}\s*(?:Instruction|Response|Input|Output|指示|応答|入力|出力|回答)\s*[:：]?\s*$",
    r"[（(][^（）()\n]{0,30}(?:回答|返答|応答|翻訳|出力|記述)(?:しました|しています|します)[^（）()\n]{0,10}[）)]",
    r"<\|im_(?:start|end)\|>|<\|endoftext\|>|<start_of_turn>|<end_of_turn>|</s>",
]
META_OPENERS = [
    r"もちろん(?:です)?[！!。、,]", r"はい、喜んで", r"喜んで(?:お手伝い|お答え|回答)",
    r"かしこまりました[。！!、]", r"承知(?:いた)?しました[。！!、]",
    r"(?i)sure[!,.]", r"(?i)certainly[!,.]", r"(?i)of course[!,.]",
    r"(?i)here(?: is|'s| are) (?:the |a |an |your )?(?:rewritten|revised|answer|response)",
]


class MetaText(Step):
    """Prompt echo and meta text: ``patterns`` anywhere in ``fields`` (defaults: "#Rewritten
    Prompt#", "### Instruction" lines, "（日本語で回答しました）"-style parentheticals,
    chat special tokens), and ``openers`` at the start of the output ("もちろん！",
    "はい、喜んで", "Sure! Here is"). Replace a list, or add to it with ``extra_patterns`` /
    ``extra_openers``. The detail names the pattern and the matched text."""

    name = "meta_text"
    reasons = ("pattern", "opener")

    class Params(Params):
        fields: list[FieldName] = ["instruction", "input", "output"]
        patterns: list[str] = list(META_PATTERNS)
        extra_patterns: list[str] = []
        openers: list[str] = list(META_OPENERS)
        extra_openers: list[str] = []

        @field_validator("patterns", "extra_patterns", "openers", "extra_openers")
        @classmethod
        def _compiles(cls, v: list[str]) -> list[str]:
            for pat in v:
                try:
                    re.compile(pat)
                except re.error as e:
                    raise ValueError(f"bad regular expression {pat!r}: {e}") from None
            return v

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.patterns = [(p, re.compile(p)) for p in params.patterns + params.extra_patterns]
        self.openers = [(p, re.compile(p)) for p in params.openers + params.extra_openers]

    def check(self, f: Fields) -> Result:
        for name in self.p.fields:
            text = f.get(name)
            if not text:
                continue
            for pat, rx in self.patterns:
                m = rx.search(text)
                if m:
                    return self.fail("pattern", field=name, pattern=pat, match=m.group(0))
        if f.output:
            head = f.output.lstrip()
            for pat, rx in self.openers:
                m = rx.match(head)
                if m:
                    return self.fail("opener", field="output", pattern=pat, match=m.group(0))
        return None


class SeedCopy(Step):
    """The instruction copies a seed: ROUGE-L F against some seed instruction above
    ``threshold`` (NoveltyIndex, ``report_floor`` 0.0 so the detail names the closest
    seed). Needs seeds (the run's seeds, or ``tane curate --seeds``)."""

    name = "seed_copy"

    class Params(Params):
        threshold: float = Field(0.7, ge=0.0, le=1.0)
        tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        if not seeds:
            raise ValueError("seed_copy needs seeds (a run's seeds or tane curate --seeds)")
        self.index = NoveltyIndex(tokenizer=params.tokenizer,
                                  lang=None if lang == "any" else lang,
                                  threshold=params.threshold, top_k=1, report_floor=0.0)
        self.seeds = {s.id: s.instruction for s in seeds}
        for s in seeds:
            self.index.add(s.instruction, key=s.id)

    def check(self, f: Fields) -> Result:
        res = self.index.check(f.instruction)
        if res.keep:
            return None
        sid = res.top[0][0]
        return self.fail(None, score=round(res.max_score, 4), threshold=self.p.threshold,
                         seed_id=sid, seed_instruction=self.seeds[sid])


class Copies(Step):
    """One field copying another: the input repeating the instruction, the output
    repeating the input, or the output repeating the instruction (instruction = input =
    output). Equal after NFKC and whitespace normalisation, or ROUGE-L F above
    ``threshold`` (char tokenizer for ja, rouge_score's for en). Empty fields and texts
    under ``min_chars`` characters are not compared; a paraphrase that only restates the
    instruction is ``restates_question``'s job."""

    name = "copies"
    reasons = ("input_is_instruction", "output_is_input", "output_is_instruction")

    class Params(Params):
        threshold: float = Field(0.9, ge=0.0, le=1.0)
        tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
        min_chars: int = Field(2, ge=0)

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.tokenize = _tokenizer(params.tokenizer, lang)

    def _same(self, x: str | None, y: str | None) -> dict[str, Any] | None:
        """How `x` copies `y` (a detail for the drop), or None."""
        if not x or not y:
            return None
        nx, ny = normalize(x), normalize(y)
        if min(len(nx), len(ny)) < max(self.p.min_chars, 1):
            return None
        if nx == ny:
            return {"equal": True}
        score = rouge_l_f(self.tokenize(ny), self.tokenize(nx))
        if score > self.p.threshold:
            return {"rouge_l": round(score, 4), "threshold": self.p.threshold}
        return None

    def check(self, f: Fields) -> Result:
        how = self._same(f.input, f.instruction)
        if how:
            return self.fail("input_is_instruction", **how)
        how = self._same(f.output, f.input)
        if how:
            return self.fail("output_is_input", **how)
        how = self._same(f.output, f.instruction)
        if how:
            return self.fail("output_is_instruction", **how)
        return None
