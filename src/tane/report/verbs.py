"""The "leading verb" of an instruction: Self-Instruct's diversity view (its Figure 2).

The paper parses English instructions with spaCy (Berkeley Neural Parser) and plots the root
verb and its direct object. tane does not depend on a parser:

- **English** (heuristic, no POS tagger): after dropping fillers such as "please", "can
  you", "I want you to", the first word of an imperative is taken as the verb and the first
  following word that is not a determiner, pronoun, preposition or common adjective as its
  object ("Write a short poem about cats" -> write / poem). Questions starting with a
  wh-word or an auxiliary ("What is ...", "Is it ...") get that word as the "verb" and no
  object. It is a rough view, not a parse.
- **Japanese**: the predicate comes at the END of the sentence. From the final clause the
  polite/request endings (ください, なさい, ますか, ていただけますか, でしょうか, ...) are
  stripped and the last verb is taken. With fugashi + unidic-lite (the ``ja`` extra) the
  key is its dictionary form, with サ変 nouns joined (説明して -> 説明する, 書いてください ->
  書く, 答えなさい -> 答える); a clause without a verb gives its last content word
  (どこですか -> どこ). Without fugashi a regex fallback keeps the surface form of the
  final kanji+kana run (説明して, 書いて).
"""

from __future__ import annotations

import re
from functools import lru_cache

from tane.config.limits import MORPH_CHUNK_CHARS
from tane.curate.tokenize import load_tagger

# ---------------------------------------------------------------------------- English
_EN_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*")
_EN_FILLERS = [
    "i would like you to", "i'd like you to", "i want you to", "i need you to",
    "can you please", "could you please", "would you please", "will you please",
    "can you", "could you", "would you", "will you", "please", "kindly", "now", "then",
    "also", "just", "and", "next",
]
_EN_QUESTION = frozenset(
    "what which who whom whose how why when where is are was were do does did can could "
    "would should will shall may might has have had".split())
_EN_SKIP_OBJ = frozenset(
    "a an the this that these those following given some any each every all my your our "
    "their his her its me us him them it you i we they one two three few several many "
    "short brief long simple new good detailed of in on at for to from with by about "
    "into over as and or more most very".split())


def en_leading_verb(text: str) -> tuple[str, str | None] | None:
    """(verb, object or None) of an English instruction, lower-cased; None if no word."""
    s = " ".join(text.strip().lower().split())
    changed = True
    while changed:
        changed = False
        for f in _EN_FILLERS:
            if s.startswith(f + " ") or s.startswith(f + ","):
                s = s[len(f):].lstrip(" ,")
                changed = True
    words = [w.strip("'-") for w in _EN_TOKEN.findall(s)]
    words = [w for w in words if w]
    if not words:
        return None
    verb = words[0]
    if verb in _EN_QUESTION:
        return verb, None
    for w in words[1:6]:
        if w in _EN_SKIP_OBJ:
            continue
        if w in _EN_QUESTION:  # "Explain why ...", "Tell me how ..."
            return verb, None
        return verb, w
    return verb, None


# ---------------------------------------------------------------------------- Japanese
_JA_SENT_END = re.compile(r"[。．.！!？?\n]+")
_JA_TRAIL = re.compile(r"[\s。．.！!？?」』）)…・、,]+$")
# Endings stripped before the regex fallback looks for the predicate (longest first).
_JA_ENDINGS = sorted([
    "ください", "下さい", "なさい", "ますか", "ませんか", "でしょうか", "ですか", "ます",
    "です", "ましょう", "か", "ね", "よ", "いただけますか", "いただけませんか",
    "もらえますか", "もらえませんか", "くれますか", "くれませんか", "ほしい", "欲しい",
    "いただけますでしょうか", "ちょうだい", "くれ",
], key=len, reverse=True)
_JA_RUN = re.compile("[\u3005\u4e00-\u9fff\u30a0-\u30ff]*[\u3041-\u3096]*$")
_JA_PARTICLE_HEAD = re.compile("^[をにがはでとへのもや]+")
# unidic lemmas of auxiliary verbs that follow the real predicate (…てください, …なさい)
_JA_AUX_VERBS = frozenset({"下さる", "為さる", "頂く", "戴く", "貰う", "呉れる", "居る",
                           "欲しい", "頂ける", "貰える", "呉れる", "置く", "見る"})
_JA_SKIP_POS = frozenset({"補助記号", "助詞", "助動詞", "空白", "記号"})


def _final_clause(text: str) -> str:
    parts = [p for p in _JA_SENT_END.split(text.strip()) if p.strip()]
    return _JA_TRAIL.sub("", parts[-1]) if parts else ""


def ja_predicate_regex(text: str) -> str | None:
    clause = _final_clause(text)
    stripped = True
    while stripped and clause:
        stripped = False
        for e in _JA_ENDINGS:
            if clause.endswith(e) and len(clause) > len(e):
                clause = clause[: -len(e)]
                stripped = True
                break
    m = _JA_RUN.search(clause)
    run = _JA_PARTICLE_HEAD.sub("", m.group(0)) if m else ""
    return run or None


def _feat(word, name: str) -> str:
    v = getattr(word.feature, name, None)
    return v if v and v != "*" else ""


def ja_predicate_morph(text: str, tagger) -> str | None:
    clause = _final_clause(text)
    if not clause:
        return None
    words = list(tagger(clause[-MORPH_CHUNK_CHARS:]))  # MeCab crashes on very long text
    i = len(words) - 1
    while i >= 0:
        w = words[i]
        pos1 = _feat(w, "pos1")
        lemma = _feat(w, "lemma")
        if pos1 in _JA_SKIP_POS:
            i -= 1
            continue
        if pos1 in ("動詞", "形容詞") and lemma in _JA_AUX_VERBS and i > 0 and \
                _feat(words[i - 1], "pos1") in ("助詞", "動詞", "助動詞"):
            # 書いて|ください, 書き|なさい: the helper, not the predicate
            i -= 1
            continue
        break
    if i < 0:
        return None
    w = words[i]
    pos1 = _feat(w, "pos1")
    base = _feat(w, "orthBase") or _feat(w, "lemma") or w.surface
    if pos1 == "動詞" and _feat(w, "lemma") == "為る" and i > 0 and \
            _feat(words[i - 1], "pos1") == "名詞":
        return words[i - 1].surface + "する"
    return base


@lru_cache(maxsize=1)
def ja_method() -> str:
    return "fugashi" if load_tagger() is not None else "regex"


def ja_predicate(text: str) -> str | None:
    """Key of the final predicate of a Japanese instruction (see module doc)."""
    tagger = load_tagger()
    if tagger is not None:
        return ja_predicate_morph(text, tagger)
    return ja_predicate_regex(text)
