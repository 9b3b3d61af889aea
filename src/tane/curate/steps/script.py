"""Script and language checks: kana/kanji share, drift into Chinese or English, the
detected language."""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import Field

from tane.curate.langid import SIMPLIFIED_ONLY, detect, is_han, is_kana
from tane.curate.steps.base import FieldName, Fields, Params, Result, Step, letters, \
    strip_code_and_urls

_CN_PUNCT = set("，；：")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_ASKS_FOR_ENGLISH = ["英語", "英訳", "英文", "翻訳", "English", "english", "英単語"]


class ScriptRatio(Step):
    """Japanese: the kana share and the kana+kanji share of the letters (code blocks and
    URLs ignored), a Latin word counting as two letters (as much as two Japanese
    characters), so English terms in Japanese prose weigh as words, not letter by
    letter. Texts with fewer than ``min_letters`` letters are not judged, nor the input
    and output when the instruction (or input) asks for English (``english_ok_if``)."""

    name = "script_ratio"
    reasons = ("low_japanese", "low_kana")
    langs = ("ja",)

    class Params(Params):
        fields: list[FieldName] = ["instruction", "output"]
        min_kana: float = Field(0.05, ge=0.0, le=1.0)
        min_japanese: float = Field(0.4, ge=0.0, le=1.0)
        min_letters: int = Field(10, ge=0)
        english_ok_if: list[str] = list(_ASKS_FOR_ENGLISH)

    def check(self, f: Fields) -> Result:
        english_ok = asks_for_english(f.instruction + f.input, self.p.english_ok_if)
        for name in self.p.fields:
            text = f.get(name)
            if text is None or (name != "instruction" and english_ok):
                continue
            ja, kana, n = japanese_shares(text)
            if n < self.p.min_letters or not n:
                continue
            if ja < self.p.min_japanese:
                return self.fail("low_japanese", field=name, japanese_share=round(ja, 3),
                                 min=self.p.min_japanese)
            if kana < self.p.min_kana:
                return self.fail("low_kana", field=name, kana_share=round(kana, 3),
                                 min=self.p.min_kana)
        return None


def asks_for_english(text: str, words: list[str] | None = None) -> bool:
    """Whether a task's text asks for English (then an English answer is no drift)."""
    return any(w in text for w in (_ASKS_FOR_ENGLISH if words is None else words))


def japanese_shares(text: str) -> tuple[float, float, int]:
    """(kana + kanji share, kana share, letters) of ``text`` as :class:`ScriptRatio`
    counts them: code blocks and URLs left out, a Latin word weighing two letters. Shares
    are 0 when there are no letters."""
    plain = strip_code_and_urls(text)
    ls = letters(plain)
    if not ls:
        return 0.0, 0.0, 0
    kana = sum(1 for c in ls if is_kana(c))
    ja = kana + sum(1 for c in ls if is_han(c))
    ascii_letters = sum(1 for c in ls if c.isascii())
    weight = len(ls) - ascii_letters + 2 * len(_LATIN_WORD.findall(plain))
    return ja / weight, kana / weight, len(ls)


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
    reasons = ("chinese", "english")
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
    reasons = ("chinese",)

    class Params(MixedLanguage.Params):
        english: bool = False


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
