"""Filters on generated instructions, per language. Each returns a reason or None.

``en`` follows the Self-Instruct code's post-processing: more than 3 and at most 150
words, a keyword blacklist (matched as whole words), no "Write a program" opener, no
punctuation or non-ASCII first character. ``ja`` keeps the intent with rules that make
sense for Japanese: length in characters, a Japanese-script share, a Japanese blacklist.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

EN_BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
                "map", "maps", "draw", "plot", "go to")
_EN_BLACKLIST_RE = [(w, re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE))
                    for w in EN_BLACKLIST]

# Things a text-only model cannot see, make or do, in the forms Japanese prompts use.
# Patterns, not bare substrings: 意図 or 合図 are not figures, 情景を描いて is a writing
# task, and データベースにアクセスして can be a SQL task.
JA_BLACKLIST = ("画像", "写真", "イラスト", r"(?<![\u3400-\u9fff])図(を|に|で|や|と|の中)",
                "グラフ", "地図", r"(絵|図|イラスト|グラフ)を(描|書)", "ファイル", "添付", "動画",
                r"音声(を|で|ファイル|データ)", "録音", "再生して", "URL", "リンク先",
                r"(サイト|ページ|ホームページ|ウェブ|Web)に?アクセス", "ダウンロード",
                "スクリーンショット")
_JA_BLACKLIST_RE = [(w, re.compile(w)) for w in JA_BLACKLIST]
JA_WRITE_PROGRAM = re.compile(r"^(プログラムを(書|作)|.{0,6}するプログラムを(書|作))")
JA_MIN_CHARS, JA_MAX_CHARS = 8, 300
JA_MIN_SHARE = 0.5

_KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005]")


def japanese_share(text: str) -> float:
    """Share of kana + kanji among the letters of ``text`` (spaces and punctuation ignored)."""
    letters = [c for c in text if not c.isspace() and not unicodedata.category(c).startswith(("P", "S"))]
    if not letters:
        return 0.0
    ja = sum(1 for c in letters if _KANA.match(c) or _KANJI.match(c))
    return ja / len(letters)


def _starts_with_punct(text: str) -> bool:
    c = text[0]
    if c in "「『（(【":  # a quotation or a note may open an instruction
        return False
    return c in string.punctuation or unicodedata.category(c).startswith("P")


def check_en(inst: str) -> tuple[str, dict[str, Any]] | None:
    n = len(inst.split())
    if n <= 3:
        return "too_short", {"words": n}
    if n > 150:
        return "too_long", {"words": n}
    for word, rx in _EN_BLACKLIST_RE:
        if rx.search(inst):
            return "blacklist", {"word": word}
    if inst.startswith("Write a program"):
        return "write_a_program", {}
    if inst[0] in string.punctuation:
        return "starts_with_punctuation", {"char": inst[0]}
    if not inst[0].isascii():
        return "non_ascii_start", {"char": inst[0]}
    return None


def check_ja(inst: str) -> tuple[str, dict[str, Any]] | None:
    n = len(inst)
    if n < JA_MIN_CHARS:
        return "too_short", {"chars": n}
    if n > JA_MAX_CHARS:
        return "too_long", {"chars": n}
    share = japanese_share(inst)
    if share < JA_MIN_SHARE or not _KANA.search(inst):
        # no kana at all: likely Chinese or another language, even if it is all kanji
        return "not_japanese", {"japanese_share": round(share, 3)}
    for word, rx in _JA_BLACKLIST_RE:
        m = rx.search(inst)
        if m:
            return "blacklist", {"word": m.group(0)}
    if JA_WRITE_PROGRAM.match(inst):
        return "write_a_program", {}
    if _starts_with_punct(inst):
        return "starts_with_punctuation", {"char": inst[0]}
    return None


def check_instruction(inst: str, mode: str) -> tuple[str, dict[str, Any]] | None:
    if not inst:
        return "empty", {}
    return check_ja(inst) if mode == "ja" else check_en(inst)
