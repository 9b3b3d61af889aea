"""An answer of the grid that copies instead of answering: its own question, or a
few-shot answer shown in its prompt (the whole text, or its code line by line).

Texts are compared after NFKC and whitespace normalisation, with ROUGE-L F (characters
for ja, rouge_score's tokens for en). Code is compared line by line: the lines of the
fenced blocks, whitespace collapsed, lines shorter than ``min_line_chars`` left out
(``)``, ``else:``, ``return x``), so a function pasted from a few-shot answer is found
wherever it sits in the answer.
"""

from __future__ import annotations

import re
from typing import Any

from ..config.grid import GridCopies
from ..curate.rouge import rouge_l_f
from ..curate.steps.base import normalize
from ..curate.tokenize import get_tokenizer
from .grid_spec import Shot

_BLOCK = re.compile(r"(```|~~~)[^\n]*\n(.*?)(?:\1|\Z)", re.DOTALL)


def code_lines(text: str, min_chars: int) -> list[str]:
    """The lines of the fenced code blocks, whitespace collapsed, at least ``min_chars``
    characters long, each once, in order."""
    out: dict[str, None] = {}
    for m in _BLOCK.finditer(text):
        for line in m.group(2).splitlines():
            line = " ".join(line.split())
            if len(line) >= min_chars:
                out.setdefault(line)
    return list(out)


class CopyCheck:
    """``check(answer, question, shots)`` -> (reason, detail) for a copy, else None."""

    def __init__(self, cfg: GridCopies, lang: str):
        self.cfg = cfg
        self.tokenize = get_tokenizer("char" if lang == "ja" else "rouge", lang)

    def _rouge(self, a: str, b: str) -> float:
        return rouge_l_f(self.tokenize(b), self.tokenize(a))

    def check(self, answer: str, question: str,
              shots: list[Shot]) -> tuple[str, dict[str, Any]] | None:
        """The drop reason and its detail (with the answer's first 500 characters)."""
        if not self.cfg.check:
            return None
        got = self._copy(answer, question, shots)
        return None if got is None else (got[0], got[1] | {"answer": answer[:500]})

    def _copy(self, answer: str, question: str,
              shots: list[Shot]) -> tuple[str, dict[str, Any]] | None:
        ans = normalize(answer)
        q = normalize(question)
        if ans == q:
            return "copies_question", {"equal": True}
        score = self._rouge(ans, q)
        if score > self.cfg.question_threshold:
            return "copies_question", {"rouge_l": round(score, 4),
                                       "threshold": self.cfg.question_threshold}
        mine = code_lines(answer, self.cfg.min_line_chars)
        for s in shots:
            score = self._rouge(ans, normalize(s.answer))
            if score > self.cfg.fewshot_threshold:
                return "copies_fewshot", {"fewshot": s.id, "rouge_l": round(score, 4),
                                          "threshold": self.cfg.fewshot_threshold}
            theirs = set(code_lines(s.answer, self.cfg.min_line_chars))
            same = [x for x in mine if x in theirs]
            if not same or len(same) < self.cfg.min_code_lines:
                continue
            share = len(same) / min(len(mine), len(theirs))
            if share >= self.cfg.code_share:
                return "copies_fewshot", {"fewshot": s.id, "code_lines": len(same),
                                          "answer_code_lines": len(mine),
                                          "fewshot_code_lines": len(theirs),
                                          "share": round(share, 3),
                                          "min_share": self.cfg.code_share,
                                          "first": same[0]}
        return None
