"""Offline language identification by Unicode script: ja / zh / ko / en / other.

No model, no download: the letters of a text are counted by script.

- kana (hiragana/katakana) among the CJK letters -> ``ja``;
- hangul dominating -> ``ko``;
- Han without kana -> ``zh`` (confidence higher when simplified-only characters such as
  们/这/说/吗 occur; kanji-only text without them is ambiguous and gets 0.5 at most);
- Latin dominating -> ``en`` when it is plain ASCII and reads like English (common
  function words), else ``other``;
- anything else (Cyrillic, Arabic, no letters) -> ``other``.

``detect(text, backend="auto")`` uses the `lingua` package when it is installed and falls
back to the script rules otherwise; the default ``"script"`` never depends on what is
installed, so results are the same everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

LANGS = ("ja", "zh", "ko", "en", "other")

# Simplified Chinese characters that Japanese does not use (its forms differ: 們/這/說 are
# not Japanese either, 会/学/国/写/与/没 are shared and therefore NOT listed).
SIMPLIFIED_ONLY = frozenset(
    "们这说么吗呢吧啊嘛您你她它为对发个时动务实现开关产业气习乐从众优传伤价亲亿仅"
    "应办场报电网专东两严丰临举义买亚门问间闻车长书见让边进连选难话语认识读请谁题"
    "则级经给结统维线红组织总轻较辆运达过还远适钱银错阵陆队阳阶际险页顶项须顾领频"
    "风飞饭馆马驾验骑鱼鸟鸡龙样诉该谢师热爱听处离调怎")

_EN_WORDS = frozenset(
    "the a an and or of to in on at for with by from is are was were be been it this that "
    "these those you your i we they he she not no do does did have has had can will would "
    "should could what which who how why when where if as but so than then there here "
    "please write explain give make list describe".split())
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def is_kana(c: str) -> bool:
    o = ord(c)
    return (0x3040 <= o <= 0x30FF and o not in (0x30FB, 0x30FC) or 0x31F0 <= o <= 0x31FF
            or 0xFF66 <= o <= 0xFF9F)


def is_han(c: str) -> bool:
    o = ord(c)
    return (0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
            or 0x20000 <= o <= 0x3FFFF or o == 0x3005)


def is_hangul(c: str) -> bool:
    o = ord(c)
    return 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F or 0xAC00 <= o <= 0xD7AF


def is_latin(c: str) -> bool:
    if c.isascii():
        return c.isalpha()
    return c.isalpha() and "LATIN" in unicodedata.name(c, "")


def script_counts(text: str) -> dict[str, int]:
    """Letters of `text` by script: kana, han, hangul, latin, other (digits, marks,
    punctuation, symbols and spaces are not letters; ー and ・ are not counted)."""
    n = {"kana": 0, "han": 0, "hangul": 0, "latin": 0, "other": 0}
    for c in text:
        if is_kana(c):
            n["kana"] += 1
        elif is_han(c):
            n["han"] += 1
        elif is_hangul(c):
            n["hangul"] += 1
        elif c.isalpha():
            n["latin" if is_latin(c) else "other"] += 1
    return n


@lru_cache(maxsize=1)
def _lingua_detector():
    try:  # optional; never a dependency
        from lingua import LanguageDetectorBuilder
    except ImportError:
        return None
    return LanguageDetectorBuilder.from_all_languages().build()


def _detect_lingua(text: str) -> tuple[str, float] | None:
    det = _lingua_detector()
    if det is None:
        return None
    vals = det.compute_language_confidence_values(text)
    if not vals:
        return None
    best = vals[0]
    iso = best.language.iso_code_639_1.name.lower()
    return (iso if iso in LANGS else "other"), round(float(best.value), 3)


def detect(text: str, backend: str = "script") -> tuple[str, float]:
    """(language, confidence in [0, 1]) for `text`; see the module doc.

    backend: ``"script"`` (default, deterministic everywhere) or ``"auto"`` (lingua when
    installed, else the script rules).
    """
    if backend not in ("script", "auto"):
        raise ValueError(f"unknown langid backend {backend!r}")
    if backend == "auto":
        got = _detect_lingua(text)
        if got is not None:
            return got
    n = script_counts(text)
    letters = sum(n.values())
    if letters == 0:
        return "other", 0.0
    cjk = n["kana"] + n["han"]
    share = {k: v / letters for k, v in n.items()}
    if n["hangul"] >= max(cjk, n["latin"], n["other"]) and n["hangul"]:
        return "ko", round(share["hangul"] + share["han"], 3)
    if cjk and cjk >= n["latin"] * 0.25 and cjk >= n["other"]:
        kana_ratio = n["kana"] / cjk
        simplified = sum(1 for c in text if c in SIMPLIFIED_ONLY)
        if n["kana"] and (kana_ratio >= 0.1 or simplified == 0):
            return "ja", round(min(1.0, cjk / letters) * min(1.0, 0.5 + kana_ratio * 2), 3)
        if simplified:
            return "zh", round(min(1.0, cjk / letters) * min(1.0, 0.6 + simplified / 5), 3)
        if n["kana"] == 0:
            return "zh", round(min(0.5, cjk / letters / 2), 3)
    if n["latin"] >= n["other"]:
        words = [w.lower() for w in _WORD.findall(text)]
        ascii_share = sum(1 for c in text if c.isascii() and c.isalpha()) / max(1, n["latin"])
        common = sum(1 for w in words if w in _EN_WORDS) / max(1, len(words))
        if ascii_share >= 0.97 and (common >= 0.08 or len(words) < 5):
            conf = share["latin"] * (0.6 if len(words) < 5 else min(1.0, 0.5 + common * 2))
            return "en", round(conf, 3)
        return "other", round(share["latin"] * 0.5, 3)
    return "other", round(share["other"], 3)
