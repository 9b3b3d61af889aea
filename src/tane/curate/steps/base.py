"""What every curation step shares: the record view, the step base class, text helpers.

Every step is a small class built from a language (``ja``, ``en`` or ``any``) and its
parameters (a pydantic model with defaults; unknown or bad parameters are errors).
``check(fields)`` returns ``None`` (keep) or ``(reason, detail)`` where ``reason`` is the
step name or ``<step name>:<sub-reason>`` and ``detail`` is a JSON-able dict saying why
(the measured value, the threshold, the matched text). Steps with state (the dedup steps)
only remember a record when ``commit(fields)`` is called, which the stage does for
records that passed every step, so a record dropped later never shadows a later
duplicate.

Output checks are skipped while a record has no output yet (``output is None``): a curate
stage may run before the answer stage. An empty string output is an output. Steps with
``fields`` take ``input`` too; an empty input (a task without one) is never judged.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict

from tane.curate.langid import detect
from tane.provenance import Provenance

Result = Optional[tuple[str, dict[str, Any]]]
FieldName = Literal["instruction", "input", "output"]


@dataclass
class Fields:
    """What a step sees of a record (a tane Record or any instruction/output row).

    ``row``: the whole input row when it is more than these fields (a JSONL/Parquet
    row), for ``score_field`` look-ups."""

    instruction: str
    input: str = ""
    output: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    id: Any = None
    row: dict[str, Any] | None = None

    def get(self, name: str) -> str | None:
        return self.output if name == "output" else getattr(self, name)

    def lookup(self, path: str) -> Any:
        """The value at dotted `path`: looked up in the row (or the record's fields and
        ``provenance``); a first key that is not there is looked up in the provenance
        (:meth:`Provenance.lookup`), so ``judge.quality`` finds the last judge step's
        quality. None when absent."""
        keys = path.split(".")
        root: dict[str, Any] = self.row if self.row is not None else {
            "instruction": self.instruction, "input": self.input, "output": self.output,
            "id": self.id, "provenance": self.provenance}
        if keys[0] not in root:
            return Provenance.read(self.provenance).lookup(path)
        if keys[0] == "provenance" and len(keys) > 1 and isinstance(root["provenance"], dict):
            return Provenance.read(root["provenance"]).lookup(".".join(keys[1:]))
        cur: Any = root
        for k in keys:
            if not isinstance(cur, dict) or k not in cur:
                return None
            cur = cur[k]
        return cur

    def score(self, path: str) -> float | None:
        """The number at `path` (int or float, not bool, not NaN), else None."""
        v = self.lookup(path)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        v = float(v)
        return None if math.isnan(v) else v



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


# -- the step base class ---------------------------------------------------------------

class Step:
    """Base class. ``langs``: languages the step is meant for (None: any)."""

    name: ClassVar[str]
    langs: ClassVar[tuple[str, ...] | None] = None
    Params: ClassVar[type[BaseModel]] = Params
    stateful: ClassVar[bool] = False
    reasons: ClassVar[tuple[str, ...]] = ()  # sub-reasons: drops read "<name>:<sub>"

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

    def prepare(self, batch: Sequence[Fields]) -> None:
        """Called with a whole batch, in the order its records will be checked, before
        any of them is; steps that are faster on batches precompute here."""

    def commit(self, f: Fields) -> None:
        """Remember a record that was kept (stateful steps)."""

    def fail(self, sub: str | None, **detail: Any) -> tuple[str, dict[str, Any]]:
        return (f"{self.name}:{sub}" if sub else self.name), detail

