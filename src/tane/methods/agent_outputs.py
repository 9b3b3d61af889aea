"""Reading what the model wrote at each AgentInstruct step, and naming why it failed.

Every step's output goes through :func:`check`; a failure is a reason of the form
``<kind>_<step>`` (``truncated_transformation``, ``empty_question``,
``copied_example_answer``, ``unparseable_question``, ``unchanged_edit``, ...).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..llm.base import Completion

STEPS = ("transformation", "question", "suggestion", "edit", "answer")
KINDS = ("truncated", "empty", "copied_example", "copied_input", "unparseable", "unchanged")
# a header line the model echoes or starts ("### 問題:", "## Question:")
_HEADER = re.compile(r"^\s*#{2,}\s*[^\n]{0,40}?[:：]?\s*$")
_LABEL = re.compile(r"^\s*\**(?:書き換えた問題|問題|質問|提案|答え|回答|rewritten question|"
                    r"question|suggestion|answer)\**\s*[:：]\s*", re.IGNORECASE)
# "A. ...", "B) ...", "(C) ...", "ア. ...", "1. ..." at the start of a line
_OPTION = re.compile(r"^\s*(?:[(（]?(?:[A-Da-dＡ-Ｄ]|[アイウエ]|[1-4１-４])[)）.．:：、]|[①-④])"
                     r"\s*\S", re.M)


def clean(text: str, label: bool = False) -> str:
    """The output without echoed header lines, cut where the model starts a new
    ``###`` block; ``label`` also strips a leading ``問題:`` / ``Question:``."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    while lines and lines[0].strip() and _HEADER.match(lines[0]):
        lines.pop(0)
    out: list[str] = []
    for line in lines:
        if line.lstrip().startswith("###"):
            break
        out.append(line.rstrip())
    t = "\n".join(out).strip()
    if label:
        t = _LABEL.sub("", t, count=1).strip()
    return t


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def copies_example(text: str, fixed: str, source: str) -> bool:
    """Most of the output's lines come from the prompt's own example, not from the text
    it was asked about (a small model repeating its demonstration)."""
    fixed_n, source_n = _norm(fixed), _norm(source)
    fixed_lines = {_norm(x) for x in fixed.split("\n")}
    lines = [n for n in (_norm(x) for x in text.split("\n")) if len(n) >= 8]
    if not lines:
        return False
    # a whole line of the example, or a long stretch of it ("The text does not say." alone
    # is a fair answer, not a copy)
    copied = [n for n in lines if (n in fixed_lines or (len(n) >= 30 and n in fixed_n))
              and n not in source_n]
    return len(copied) * 2 >= len(lines)


def has_options(text: str) -> bool:
    return len(_OPTION.findall(text)) >= 2


def only_symbols(text: str) -> bool:
    return not any(unicodedata.category(c)[0] in "LN" for c in text)


def check(res: Completion, step: str, fixed: str = "", source: str = "",
          fmt: str | None = None, before: str | None = None, echoes: tuple[str, ...] = ()
          ) -> tuple[str, str, dict[str, Any]]:
    """(cleaned text, reason or "", detail). ``fixed``: the prompt without the parts that
    vary (its example); ``source``: the text the output may quote; ``fmt``: a question
    format to check; ``before``: the question an edit must change; ``echoes``: inputs the
    output must not merely repeat (the suggestion for an edit, the question for an answer).
    A reply cut at ``max_tokens`` never reaches here: the engine drops it as
    ``truncated_<step>`` (:meth:`tane.engine.StageContext.ask_all`)."""
    label = step in ("question", "edit", "suggestion", "answer")
    text = clean(res.text, label=label)
    raw = {"raw": res.text[:500]}
    if not text or only_symbols(text):
        return text, f"empty_{step}", raw
    if fixed and copies_example(text, fixed, source):
        return text, f"copied_example_{step}", raw
    if any(_norm(text) == _norm(e) for e in echoes if e):
        return text, f"copied_input_{step}", raw
    if step in ("question", "edit") and len(_norm(text)) >= 10 and _norm(text) in _norm(source):
        return text, f"copied_input_{step}", raw | {"why": "a stretch of the text, not a question"}
    if fmt == "multiple_choice" and step in ("question", "edit") and not has_options(text):
        return text, f"unparseable_{step}", raw | {"why": "multiple choice without options"}
    if before is not None and _norm(text) == _norm(before):
        return text, f"unchanged_{step}", raw
    return text, "", {}
