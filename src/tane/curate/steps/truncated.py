"""Cut-off outputs: finish reason, open code block, unfinished last sentence."""

from __future__ import annotations

import re
import unicodedata

from pydantic import Field

from tane.config.judge import JudgeStep
from tane.curate.steps.base import Fields, Params, Result, Step, is_cjk_lang, text_lang
from tane.provenance import Provenance

_JA_END = "。！？!?」』）)…．.〕】》〉～〜♪\"'”’"
_EN_END = ".!?\"'”’)]…:;"
_LIST_LINE = re.compile(r"^\s*(?:[-*+・•●◦]|\d+[.)．）、]|[（(]?\d+[)）]|[①-⑳])\s*\S")


def output_finish_reason(prov: Provenance) -> str | None:
    """How the call that wrote the record ended: the made_by origin's when it recorded
    one, else the last step's that is not a verdict (a judge grades, it writes nothing)."""
    made, steps = prov.made_by(), prov.all_steps()
    if made.finish_reason is not None and not any(s.parent_id for s in steps):
        return made.finish_reason
    steps = [s for s in steps if s.method != JudgeStep.METHOD]
    return steps[-1].finish_reason if steps else made.finish_reason


class Truncated(Step):
    """A cut-off output: ``finish_reason: length`` in the provenance (the generator's, else
    the last step's that is not a judge's verdict), an unclosed code block, or (``check_ending``) a
    last sentence without terminal punctuation. The ending is only judged for outputs
    of at least ``min_chars`` characters (short answers such as labels need none) and
    not when the output ends in a code block, a list item or a table row."""

    name = "truncated"
    reasons = ("finish_reason", "open_code_block", "unfinished_sentence")

    class Params(Params):
        finish_reason: bool = True
        check_ending: bool = True
        min_chars: int = Field(40, ge=0)
        ja_endings: str = _JA_END
        en_endings: str = _EN_END

    def check(self, f: Fields) -> Result:
        if self.p.finish_reason:
            if output_finish_reason(Provenance.read(f.provenance)) == "length":
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
