"""Curation heuristics that explain themselves.

Every heuristic is a small class built from a language (``ja``, ``en`` or ``any``) and
its parameters (a pydantic model with defaults; unknown or bad parameters are errors).
``check(fields)`` returns ``None`` (keep) or ``(reason, detail)`` where ``reason`` is the
step name or ``<step name>:<sub-reason>`` and ``detail`` is a JSON-able dict saying why
(the measured value, the threshold, the matched text). Steps with state (``exact_dup``,
``near_dup``) only remember a record when ``commit(fields)`` is called, which the stage
does for records that passed every step, so a record dropped later never shadows a
later duplicate.

Output checks are skipped while a record has no output yet (``output is None``): a curate
stage may run before the answer stage. An empty string output is an output.

Steps (parameters and defaults on each ``Params`` class; ``STEPS`` maps names):
length, script_ratio, mixed_language, chinese_drift, repetition, truncated,
restates_question, meta_text, refusal, seed_copy, exact_dup, near_dup, minhash_dup,
language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tane.curate.langid import SIMPLIFIED_ONLY, detect, is_han, is_kana
from tane.curate.rouge import NoveltyIndex, rouge_l_f
from tane.curate.tokenize import get_tokenizer

Result = Optional[tuple[str, dict[str, Any]]]
FieldName = Literal["instruction", "output"]


@dataclass
class Fields:
    """What a heuristic sees of a record (a tane Record or any instruction/output row)."""

    instruction: str
    input: str = ""
    output: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    id: Any = None

    def get(self, name: str) -> str | None:
        return self.output if name == "output" else getattr(self, name)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- text helpers -----------------------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|\S+@\S+\.\w+")
_WS = re.compile(r"\s+")


def strip_code_and_urls(text: str) -> str:
    """`text` without fenced code blocks, inline code, URLs and e-mail addresses."""
    return _URL.sub(" ", _INLINE_CODE.sub(" ", _CODE_BLOCK.sub("\n", text)))


def normalize(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def is_cjk_lang(lang: str) -> bool:
    return lang in ("ja", "zh", "ko")


def text_lang(text: str, stage_lang: str) -> str:
    """The stage language, or for ``any`` the detected language of `text`."""
    return stage_lang if stage_lang != "any" else detect(text)[0]


def letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha()]


# -- the steps ----------------------------------------------------------------------

class Step:
    """Base class. ``langs``: languages the step is meant for (None: any)."""

    name: ClassVar[str]
    langs: ClassVar[tuple[str, ...] | None] = None
    Params: ClassVar[type[BaseModel]] = Params
    stateful: ClassVar[bool] = False

    def __init__(self, lang: str, params: BaseModel, seeds: Sequence[Any] = ()):
        self.lang = lang
        self.p = params

    def applies(self, f: Fields) -> bool:
        """For ``lang: any``, language-specific steps run only on records in their
        language (judged on the instruction)."""
        if self.langs is None or self.lang != "any":
            return True
        return detect(f.instruction)[0] in self.langs

    def check(self, f: Fields) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError

    def commit(self, f: Fields) -> None:
        """Remember a record that was kept (stateful steps)."""

    def fail(self, sub: str | None, **detail: Any) -> tuple[str, dict[str, Any]]:
        return (f"{self.name}:{sub}" if sub else self.name), detail


class Length(Step):
    """Too short / too long, in characters (ja) or words (en); ``any`` decides per text."""

    name = "length"

    class Params(Params):
        unit: Literal["auto", "chars", "words"] = "auto"
        instruction_min: Optional[int] = Field(None, ge=0)
        instruction_max: Optional[int] = Field(None, ge=1)
        output_min: Optional[int] = Field(None, ge=0)
        output_max: Optional[int] = Field(None, ge=1)

    DEFAULTS = {"chars": {"instruction": (5, 1000), "output": (1, 4000)},
                "words": {"instruction": (3, 300), "output": (1, 1500)}}

    def check(self, f: Fields) -> Result:
        for name in ("instruction", "output"):
            text = f.get(name)
            if text is None:
                continue
            unit = self.p.unit
            if unit == "auto":
                unit = "chars" if is_cjk_lang(text_lang(text or f.instruction, self.lang)) \
                    else "words"
            lo_d, hi_d = self.DEFAULTS[unit][name]
            lo = getattr(self.p, f"{name}_min")
            hi = getattr(self.p, f"{name}_max")
            lo, hi = (lo_d if lo is None else lo), (hi_d if hi is None else hi)
            n = len(text.strip()) if unit == "chars" else len(text.split())
            if n < lo:
                return self.fail(f"{name}_too_short", **{unit: n, "min": lo})
            if n > hi:
                return self.fail(f"{name}_too_long", **{unit: n, "max": hi})
        return None


class ScriptRatio(Step):
    """Japanese: the kana share and the kana+kanji share of the letters (code blocks and
    URLs ignored). Texts with fewer than ``min_letters`` letters are not judged."""

    name = "script_ratio"
    langs = ("ja",)

    class Params(Params):
        fields: list[FieldName] = ["instruction", "output"]
        min_kana: float = Field(0.05, ge=0.0, le=1.0)
        min_japanese: float = Field(0.5, ge=0.0, le=1.0)
        min_letters: int = Field(10, ge=0)

    def check(self, f: Fields) -> Result:
        for name in self.p.fields:
            text = f.get(name)
            if text is None:
                continue
            ls = letters(strip_code_and_urls(text))
            if len(ls) < self.p.min_letters or not ls:
                continue
            kana = sum(1 for c in ls if is_kana(c))
            ja = kana + sum(1 for c in ls if is_han(c))
            if ja / len(ls) < self.p.min_japanese:
                return self.fail("low_japanese", field=name,
                                 japanese_share=round(ja / len(ls), 3),
                                 min=self.p.min_japanese)
            if kana / len(ls) < self.p.min_kana:
                return self.fail("low_kana", field=name, kana_share=round(kana / len(ls), 3),
                                 min=self.p.min_kana)
        return None


_CN_PUNCT = set("，；：")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_ASKS_FOR_ENGLISH = ["英語", "英訳", "英文", "翻訳", "English", "english", "英単語"]


class MixedLanguage(Step):
    """Japanese output drifting into Chinese or English.

    chinese: more than ``max_simplified`` simplified-only characters (们/这/说/吗/为…,
    never characters Japanese shares such as 会/学/国), or a run of at least
    ``kanji_run`` Han characters with no kana (Chinese commas allowed inside the run),
    or at least ``kanji_run`` Han characters in a text with no kana at all.
    english: outside code blocks, inline code and URLs, Latin words make up more than
    ``max_latin_share`` of the text (a Latin word weighing as much as two Japanese
    characters) with at least ``min_latin_words`` of them, or a run of at least
    ``max_latin_words`` Latin words occurs; skipped when the instruction (or input) asks
    for English (``english_ok_if``). A few English terms in Japanese text are fine.
    """

    name = "mixed_language"
    langs = ("ja",)

    class Params(Params):
        fields: list[FieldName] = ["output"]
        chinese: bool = True
        english: bool = True
        max_simplified: int = Field(1, ge=0)
        kanji_run: int = Field(18, ge=2)
        max_latin_share: float = Field(0.5, ge=0.0, le=1.0)
        min_latin_words: int = Field(8, ge=1)
        max_latin_words: int = Field(12, ge=1)
        min_letters: int = Field(10, ge=0)
        english_ok_if: list[str] = list(_ASKS_FOR_ENGLISH)

    def check(self, f: Fields) -> Result:
        for name in self.p.fields:
            text = f.get(name)
            if text is None:
                continue
            if self.p.chinese:
                got = self._chinese(text)
                if got:
                    return self.fail("chinese", field=name, **got)
            if self.p.english and not any(w in f.instruction + f.input
                                          for w in self.p.english_ok_if):
                got = self._english(text)
                if got:
                    return self.fail("english", field=name, **got)
        return None

    def _chinese(self, text: str) -> dict[str, Any] | None:
        simp = [c for c in text if c in SIMPLIFIED_ONLY]
        if len(simp) > self.p.max_simplified:
            return {"signal": "simplified_chars", "chars": "".join(dict.fromkeys(simp))[:20],
                    "count": len(simp), "max": self.p.max_simplified}
        run, best, n_han, start, best_start = 0, 0, 0, 0, 0
        for i, c in enumerate(text):
            if is_han(c):
                if run == 0:
                    start = i
                run += 1
                n_han += 1
                if run > best:
                    best, best_start = run, start
            elif c in _CN_PUNCT and run:
                continue
            else:
                run = 0
        if best >= self.p.kanji_run:
            return {"signal": "kanji_run", "run": text[best_start:best_start + 40],
                    "length": best, "min": self.p.kanji_run}
        if n_han >= self.p.kanji_run and not any(is_kana(c) for c in text):
            return {"signal": "no_kana", "han": n_han}
        return None

    def _english(self, text: str) -> dict[str, Any] | None:
        plain = strip_code_and_urls(text)
        ls = letters(plain)
        if len(ls) < self.p.min_letters:
            return None
        words = len(_LATIN_WORD.findall(plain))
        cjk = sum(1 for c in ls if is_kana(c) or is_han(c))
        # in word units: a Latin word against two Japanese characters
        share = words / (words + cjk / 2) if words else 0.0
        if share > self.p.max_latin_share and words >= self.p.min_latin_words:
            return {"signal": "latin_share", "latin_share": round(share, 3),
                    "latin_words": words, "max": self.p.max_latin_share}
        run = re.search(r"(?:[A-Za-z][A-Za-z'’-]*[\s,;:.!?\"()]+){%d,}" % self.p.max_latin_words,
                        plain + " ")
        if run:
            return {"signal": "latin_run", "run": run.group(0).strip()[:80],
                    "min_words": self.p.max_latin_words}
        return None


class ChineseDrift(MixedLanguage):
    """`mixed_language` with only the Chinese checks (its sub-reason is ``chinese``)."""

    name = "chinese_drift"

    class Params(MixedLanguage.Params):
        english: bool = False


class Repetition(Step):
    """Degenerate repetition: the share of n-gram positions covered by n-grams that occur
    more than once (characters for ja/zh/ko, words otherwise; texts shorter than
    ``min_tokens`` tokens are not judged), and the share of non-blank lines that repeat an
    earlier line (with at least ``min_lines`` lines)."""

    name = "repetition"

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


_JA_END = "。！？!?」』）)…．.〕】》〉～〜♪\"'”’"
_EN_END = ".!?\"'”’)]…:;"
_LIST_LINE = re.compile(r"^\s*(?:[-*+・•●◦]|\d+[.)．）、]|[（(]?\d+[)）]|[①-⑳])\s*\S")


class Truncated(Step):
    """A cut-off output: ``finish_reason: length`` in the provenance (top level or the
    last entry of ``provenance.steps``), an unclosed code block, or (``check_ending``) a
    last sentence without terminal punctuation. The ending is only judged for outputs
    of at least ``min_chars`` characters (short answers such as labels need none) and
    not when the output ends in a code block, a list item or a table row."""

    name = "truncated"

    class Params(Params):
        finish_reason: bool = True
        check_ending: bool = True
        min_chars: int = Field(40, ge=0)
        ja_endings: str = _JA_END
        en_endings: str = _EN_END

    def check(self, f: Fields) -> Result:
        if self.p.finish_reason:
            prov = f.provenance or {}
            steps = prov.get("steps") or []
            reason = prov.get("finish_reason")
            if reason is None and steps and isinstance(steps[-1], dict):
                reason = steps[-1].get("finish_reason")
            if reason == "length":
                return self.fail("finish_reason", finish_reason="length")
        text = f.output
        if text is None:
            return None
        body = text.rstrip()
        if body.count("```") % 2 == 1:
            return self.fail("open_code_block", tail=body[-40:])
        if not self.p.check_ending or len(body) < self.p.min_chars:
            return None
        last = body.splitlines()[-1] if body else ""
        if body.endswith("```") or _LIST_LINE.match(last) or last.lstrip().startswith("|"):
            return None
        ends = self.p.ja_endings if is_cjk_lang(text_lang(body, self.lang)) \
            else self.p.en_endings
        # an emoji or a closing symbol also ends a sentence
        if body[-1] in ends or unicodedata.category(body[-1]) == "So":
            return None
        return self.fail("unfinished_sentence", tail=body[-40:])


class RestatesQuestion(Step):
    """The output only restates the instruction: ROUGE-L F(output, instruction) above
    ``threshold`` (char tokenizer for ja, rouge_score's for en), or the normalised output
    is contained in the instruction while being at least ``contained_min_ratio`` of its
    length (so a label quoted among the options, 「ポジティブ」, is not a restatement)."""

    name = "restates_question"

    class Params(Params):
        threshold: float = Field(0.8, ge=0.0, le=1.0)
        tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
        contained_min_ratio: float = Field(0.5, ge=0.0, le=1.0)
        min_chars: int = Field(2, ge=0)

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        tok = params.tokenizer
        if tok == "auto":
            tok = {"ja": "char", "en": "rouge"}.get(lang, "auto")
        self.tokenize = get_tokenizer(tok, None if lang == "any" else lang)

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

    class Params(Params):
        fields: list[FieldName] = ["instruction", "output"]
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


REFUSAL_OPENERS_JA = [
    r"(?:大変)?申し訳(?:ありません|ございません|ないのですが|ないですが)", r"すみません",
    r"恐れ入りますが", r"残念ながら", r"あいにく",
    r"(?:私は|わたしは)?(?:AI|ＡＩ|人工知能|言語モデル|AIアシスタント)(?:として|である|なので|ですので|のため)",
    r"(?:私は|わたしは)(?:AI|ＡＩ|人工知能|言語モデル|AIアシスタント)",
    r"その(?:ような)?(?:ご?質問|ご?依頼|リクエスト|ご?要望|内容)",
]
REFUSAL_PREDICATES_JA = [
    r"(?:お答え|お応え|回答|返答|対応|お手伝い|手助け|サポート|ご協力|協力|提供|お伝え|共有"
    r"|生成|作成|実行|アクセス|閲覧|お調べ|判断)(?:すること|いたすこと)?(?:は|が|も)?(?:でき|致しかね|いたしかね)",
    r"控えさせていただ", r"いたしかねます", r"致しかねます", r"応じ(?:られ|ることはでき)ません",
    r"(?:AI|ＡＩ|人工知能|言語モデル).{0,30}(?:できません|ありません)",
]
REFUSAL_OPENERS_EN = [
    r"(?i)(?:I'?m|I am) (?:so |very |really )?sorry", r"(?i)sorry", r"(?i)I apologi[sz]e",
    r"(?i)unfortunately", r"(?i)as an AI", r"(?i)I (?:can(?:'|’)?t|cannot|can not)",
    r"(?i)(?:I'?m|I am) (?:not able|unable)", r"(?i)I (?:won(?:'|’)t|will not)",
]
REFUSAL_PREDICATES_EN = [
    r"(?i)\b(?:I'?m|I am) (?:not able|unable) to\b",
    r"(?i)\bI (?:can(?:'|’)?t|cannot|can not|won(?:'|’)t|will not) (?:help|assist|provide|answer"
    r"|comply|fulfil|fulfill|do that|create|generate|write|share|give|engage|support|discuss"
    r"|access|browse)",
    r"(?i)\bas an AI\b",
]
_SENT_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s|\n")


def first_sentence(text: str) -> tuple[str, str]:
    """(first sentence, the rest) of `text` (after stripping)."""
    t = text.strip()
    m = _SENT_END.search(t)
    if not m or m.end() == 0:
        return t, ""
    return t[:m.end()].strip(), t[m.end():].strip()


class Refusal(Step):
    """A refusal, judged by position and context, never by a bare substring
    ("申し訳ありませんが、在庫は明日入荷します" is polite Japanese, not a refusal).

    Dropped when the output's first sentence *starts* with a refusal opener (申し訳ありま
    せんが / 残念ながら / AIとして / I'm sorry / As an AI …) AND contains a refusal
    predicate (お答えできません / 対応できません / お手伝いできません / 控えさせていただき
    ます / I can't help / I'm unable to / As an AI …) AND either the output is shorter than
    ``max_chars`` or what follows, without sentences that refuse again, is shorter than
    ``min_answer_chars`` (no substantive answer)."""

    name = "refusal"

    class Params(Params):
        max_chars: int = Field(200, ge=0)
        min_answer_chars: int = Field(150, ge=0)
        openers: Optional[list[str]] = Field(None, description="default: per language")
        predicates: Optional[list[str]] = Field(None, description="default: per language")

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        if params.openers is not None:
            op = params.openers
        else:
            op = {"ja": REFUSAL_OPENERS_JA, "en": REFUSAL_OPENERS_EN}.get(
                lang, REFUSAL_OPENERS_JA + REFUSAL_OPENERS_EN)
        if params.predicates is not None:
            pr = params.predicates
        else:
            pr = {"ja": REFUSAL_PREDICATES_JA, "en": REFUSAL_PREDICATES_EN}.get(
                lang, REFUSAL_PREDICATES_JA + REFUSAL_PREDICATES_EN)
        self.openers = [re.compile(p) for p in op]
        self.predicates = [re.compile(p) for p in pr]

    def _predicate(self, sentence: str) -> str | None:
        for rx in self.predicates:
            m = rx.search(sentence)
            if m:
                return m.group(0)
        return None

    def check(self, f: Fields) -> Result:
        if not f.output:
            return None
        first, rest = first_sentence(f.output)
        opener = next((m.group(0) for rx in self.openers if (m := rx.match(first))), None)
        if opener is None:
            return None
        pred = self._predicate(first)
        if pred is None:
            return None
        n = len(f.output.strip())
        if n >= self.p.max_chars:
            answer, r = 0, rest
            while r:
                s, r = first_sentence(r)
                if self._predicate(s) is None:
                    answer += len(s)
            if answer >= self.p.min_answer_chars:
                return None
        return self.fail(None, opener=opener, predicate=pred, sentence=first[:120], chars=n)


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


class ExactDup(Step):
    """Exact duplicates after normalisation (NFKC, whitespace collapsed, stripped) of
    ``fields``: instruction (with its input, ``with_input``), output, or both. The first
    occurrence is kept."""

    name = "exact_dup"
    stateful = True

    class Params(Params):
        fields: Literal["instruction", "output", "both"] = "instruction"
        with_input: bool = True

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.seen: dict[tuple, Any] = {}

    def _key(self, f: Fields) -> tuple:
        key: tuple = ()
        if self.p.fields in ("instruction", "both"):
            key += (normalize(f.instruction),) + ((normalize(f.input),) if self.p.with_input
                                                 else ())
        if self.p.fields in ("output", "both"):
            key += (normalize(f.output or ""),)
        return key

    def check(self, f: Fields) -> Result:
        first = self.seen.get(self._key(f))
        if first is None:
            return None
        return self.fail(None, fields=self.p.fields, duplicate_of=first)

    def commit(self, f: Fields) -> None:
        self.seen.setdefault(self._key(f), f.id)


class NearDup(Step):
    """Greedy ROUGE-L near-duplicates on ``field`` (NoveltyIndex): dropped when F against
    an earlier kept record is above ``threshold``."""

    name = "near_dup"
    stateful = True

    class Params(Params):
        field: FieldName = "instruction"
        threshold: float = Field(0.7, ge=0.0, le=1.0)
        tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        self.index = NoveltyIndex(tokenizer=params.tokenizer,
                                  lang=None if lang == "any" else lang,
                                  threshold=params.threshold, top_k=1)
        self.texts: dict[Any, str] = {}

    def check(self, f: Fields) -> Result:
        text = f.get(self.p.field)
        if not text:
            return None
        res = self.index.check(text)
        if res.keep:
            return None
        key = res.top[0][0]
        return self.fail(None, field=self.p.field, score=round(res.max_score, 4),
                         threshold=self.p.threshold, similar_to=key[1],
                         similar_text=self.texts[key])

    def commit(self, f: Fields) -> None:
        text = f.get(self.p.field)
        if text:
            key = (len(self.texts), f.id)
            self.texts[key] = text
            self.index.add(text, key=key)


class MinHashDup(Step):
    """Approximate greedy near-duplicates on ``field`` with MinHash-LSH (`MinHashIndex`,
    needs the ``dedup`` extra): dropped when the estimated Jaccard similarity of shingle
    sets (character n-grams for ja, word n-grams otherwise) with an earlier kept record
    is at least ``threshold``. Recall against exact ROUGE-L (``near_dup``) is below 1."""

    name = "minhash_dup"
    stateful = True

    class Params(Params):
        field: FieldName = "instruction"
        threshold: float = Field(0.7, gt=0.0, le=1.0)
        num_perm: int = Field(128, ge=2, le=1024)
        ngram: Optional[int] = Field(None, ge=1)

    def __init__(self, lang, params, seeds=()):
        super().__init__(lang, params, seeds)
        from tane.curate.minhash import MinHashIndex

        self.index = MinHashIndex(num_perm=params.num_perm, threshold=params.threshold,
                                  ngram=params.ngram, lang=None if lang == "any" else lang)
        self.texts: dict[Any, str] = {}

    def check(self, f: Fields) -> Result:
        text = f.get(self.p.field)
        if not text:
            return None
        keep, key, score = self.index.check(text)
        if keep:
            return None
        return self.fail(None, field=self.p.field, jaccard=round(score, 4),
                         threshold=self.p.threshold, similar_to=key[1],
                         similar_text=self.texts[key])

    def commit(self, f: Fields) -> None:
        text = f.get(self.p.field)
        if text:
            key = (len(self.texts), f.id)
            if self.index.check_and_add(text, key=key)[0]:
                self.texts[key] = text


class Language(Step):
    """The detected language (langid, by script) of ``fields`` differs from the stage's
    language (``expect`` overrides it). Texts with fewer than ``min_letters`` letters and
    detections below ``min_confidence`` are not judged."""

    name = "language"

    class Params(Params):
        fields: list[FieldName] = ["instruction", "output"]
        expect: Optional[Literal["ja", "zh", "ko", "en"]] = None
        min_letters: int = Field(10, ge=0)
        min_confidence: float = Field(0.5, ge=0.0, le=1.0)

    def check(self, f: Fields) -> Result:
        want = self.p.expect or self.lang
        if want == "any":
            return None
        for name in self.p.fields:
            text = f.get(name)
            if text is None:
                continue
            plain = strip_code_and_urls(text)
            if len(letters(plain)) < self.p.min_letters:
                continue
            got, conf = detect(plain)
            if got != want and conf >= self.p.min_confidence:
                return self.fail(None, field=name, detected=got, confidence=conf,
                                 expected=want)
        return None


STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (
    Length, ScriptRatio, MixedLanguage, ChineseDrift, Repetition, Truncated,
    RestatesQuestion, MetaText, Refusal, SeedCopy, ExactDup, NearDup, MinHashDup,
    Language)}


def make_step(name: str, lang: str = "ja", seeds: Sequence[Any] = (), **params: Any) -> Step:
    """Build one step by name (raises KeyError / pydantic ValidationError / ValueError)."""
    cls = STEPS[name]
    return cls(lang, cls.Params.model_validate(params), seeds)
