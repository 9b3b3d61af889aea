"""Tokenizers for ROUGE-L near-duplicate detection.

`rouge_score`'s default tokenizer keeps only ``[a-z0-9]``: on Japanese it yields no
tokens, so identical Japanese strings score 0 and Self-Instruct-style dedup keeps every
duplicate. This module offers tokenizers that see non-ASCII text:

- ``rouge``: bit-compatible with ``rouge_score.tokenize.tokenize(text, None)``.
- ``whitespace``: NFKC, then ``str.split()``.
- ``char``: NFKC, one token per character, whitespace and punctuation (``P*``) dropped.
- ``morph``: fugashi + unidic-lite surface forms (NFKC, punctuation/whitespace dropped);
  falls back to ``char`` with a warning when fugashi or unidic-lite is unavailable.
  MeCab is handed at most ``MORPH_CHUNK_CHARS`` characters at once (`morph_chunks`): it
  crashes the process (SIGSEGV) on a few hundred thousand characters without a break.
- ``auto``: picks one of the above from the language (or, without a language, per text):
  ``ja`` morph, ``zh``/``ko``/``th`` char, ``en`` rouge, any other language whitespace
  (rouge's ``[a-z0-9]`` would see no tokens in Cyrillic or Greek and split accented
  words). Per text: Japanese script morph, Hangul/Thai char, text with ``[a-z0-9]`` rouge,
  other text whitespace.
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from typing import Callable

from tane.config.limits import MORPH_CHUNK_CHARS
from tane.errors import TaneError

Tokenizer = Callable[[str], list[str]]

TOKENIZER_NAMES = ("auto", "char", "morph", "whitespace", "rouge")
CHAR_LANGS = frozenset({"zh", "ko", "th"})
MORPH_LANGS = frozenset({"ja"})
ROUGE_LANGS = frozenset({"en"})

_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
# Hiragana, Katakana (+ phonetic extensions, half-width), CJK ideographs (+ ext. A,
# compatibility, ext. B and later planes), CJK symbols/iteration marks.
JA_SCRIPT = re.compile(
    "[\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff]")
# Hangul (jamo, compatibility jamo, syllables) and Thai: rouge's tokenizer sees nothing.
_CHAR_SCRIPT = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af\u0e00-\u0e7f]")

_tagger_cache: dict[str, object] = {}


def rouge_tokenize(text: str) -> list[str]:
    """Same tokens as rouge_score's default tokenizer without stemming.

    rouge_score lowercases, replaces every run of characters outside ``[a-z0-9]`` by a
    space, splits and drops empty tokens; that is exactly the maximal ``[a-z0-9]`` runs
    of the lowercased text.
    """
    return _ROUGE_TOKEN.findall(text.lower())


def whitespace_tokenize(text: str) -> list[str]:
    return unicodedata.normalize("NFKC", text).split()


def _is_dropped_char(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def char_tokenize(text: str) -> list[str]:
    return [ch for ch in unicodedata.normalize("NFKC", text) if not _is_dropped_char(ch)]


def load_tagger():
    """Return a fugashi Tagger on unidic-lite, or None when it cannot be had (cached)."""
    if "tagger" in _tagger_cache:
        return _tagger_cache["tagger"]
    tagger = None
    try:
        import fugashi
        import unidic_lite

        dicdir = unidic_lite.DICDIR
        rc = os.path.join(dicdir, "mecabrc")
        tagger = fugashi.Tagger(f'-d "{dicdir}" -r "{rc}"')
    except (ImportError, RuntimeError, OSError):
        tagger = None
    _tagger_cache["tagger"] = tagger
    return tagger


def morph_available() -> bool:
    """True when fugashi with unidic-lite can be used."""
    return load_tagger() is not None


_BREAK = re.compile(r"[\s。．.！!？?、，,」』）)]")


def morph_chunks(text: str, size: int = MORPH_CHUNK_CHARS) -> list[str]:
    """`text` in pieces of at most `size` characters for MeCab, each cut after the last
    sentence end, comma or space of its second half (a hard cut where there is none).
    Text up to `size` characters is one piece, so its tokens are unchanged."""
    if len(text) <= size:
        return [text]
    pieces, start = [], 0
    while len(text) - start > size:
        end = start + size
        cut = None
        for m in _BREAK.finditer(text, start + size // 2, end):
            cut = m.end()
        end = cut or end
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def _make_morph(tagger) -> Tokenizer:
    def morph_tokenize(text: str) -> list[str]:
        norm = unicodedata.normalize("NFKC", text)
        out = []
        for piece in morph_chunks(norm):
            for word in tagger(piece):
                surface = word.surface
                if surface and not all(_is_dropped_char(ch) for ch in surface):
                    out.append(surface)
        return out

    return morph_tokenize


def _morph_or_char(warn: bool) -> tuple[str, Tokenizer]:
    tagger = load_tagger()
    if tagger is not None:
        return "morph", _make_morph(tagger)
    if warn:
        warnings.warn("tokenizer 'morph' needs fugashi and unidic-lite "
                      "(pip install 'tane[ja]'); falling back to 'char'", stacklevel=4)
    return "char", char_tokenize


def _check_name(name: str) -> None:
    if name not in TOKENIZER_NAMES:
        raise TaneError(f"unknown tokenizer {name!r}; valid names: "
                        + ", ".join(TOKENIZER_NAMES), field="tokenizer")


def _norm_lang(lang: str | None) -> str | None:
    if lang is None or not str(lang).strip():
        return None
    # "ja-JP", "ja_JP" -> "ja"
    return re.split(r"[-_]", str(lang).strip().lower())[0]


def resolve_tokenizer_name(name: str, lang: str | None = None) -> str:
    """The concrete tokenizer `get_tokenizer(name, lang)` uses, for provenance/reports.

    Without a language, ``auto`` decides per text; the result then spells the rule, e.g.
    ``"auto:ja=morph,ko/th=char,other=rouge"``.
    """
    _check_name(name)
    lang = _norm_lang(lang)
    if name == "morph":
        return "morph" if morph_available() else "char"
    if name != "auto":
        return name
    if lang is None:
        ja = "morph" if morph_available() else "char"
        return f"auto:ja={ja},ko/th=char,ascii=rouge,other=whitespace"
    if lang in MORPH_LANGS:
        return "morph" if morph_available() else "char"
    if lang in CHAR_LANGS:
        return "char"
    return "rouge" if lang in ROUGE_LANGS else "whitespace"


def get_tokenizer(name: str, lang: str | None = None) -> Tokenizer:
    """Return a ``text -> tokens`` function for tokenizer `name` (see module doc).

    Raises TaneError (field ``tokenizer``) for an unknown name. ``morph`` falls back to
    ``char`` with one warning when fugashi/unidic-lite cannot be loaded.
    """
    _check_name(name)
    lang = _norm_lang(lang)
    if name == "rouge":
        return rouge_tokenize
    if name == "whitespace":
        return whitespace_tokenize
    if name == "char":
        return char_tokenize
    if name == "morph":
        return _morph_or_char(warn=True)[1]
    # auto
    if lang is not None:
        if lang in MORPH_LANGS:
            return _morph_or_char(warn=True)[1]
        if lang in CHAR_LANGS:
            return char_tokenize
        return rouge_tokenize if lang in ROUGE_LANGS else whitespace_tokenize
    ja_tok = _morph_or_char(warn=True)[1]

    def auto_tokenize(text: str) -> list[str]:
        if JA_SCRIPT.search(text):
            return ja_tok(text)
        if _CHAR_SCRIPT.search(text):
            return char_tokenize(text)
        return rouge_tokenize(text) or whitespace_tokenize(text)

    return auto_tokenize
