"""Refusals, judged by position and context."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field

from tane.curate.steps.base import Fields, Params, Result, Step

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
