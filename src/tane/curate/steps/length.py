"""Length limits in characters (ja) or words (en)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from tane.curate.steps.base import Fields, Params, Result, Step, is_cjk_lang, text_lang

class Length(Step):
    """Too short / too long, in characters (ja) or words (en); ``any`` decides per text.
    The input has only an upper limit (a task may have no input)."""

    name = "length"
    reasons = ("instruction_too_short", "instruction_too_long", "input_too_long",
               "output_too_short", "output_too_long")

    class Params(Params):
        unit: Literal["auto", "chars", "words"] = "auto"
        instruction_min: Optional[int] = Field(None, ge=0,
                                               description="unset: 5 chars / 3 words")
        instruction_max: Optional[int] = Field(None, ge=1,
                                               description="unset: 1000 chars / 300 words")
        input_max: Optional[int] = Field(None, ge=1,
                                         description="unset: 2000 chars / 600 words")
        output_min: Optional[int] = Field(None, ge=0, description="unset: 1 char / 1 word")
        output_max: Optional[int] = Field(None, ge=1,
                                          description="unset: 4000 chars / 1500 words")

    DEFAULTS = {"chars": {"instruction": (5, 1000), "input": (0, 2000), "output": (1, 4000)},
                "words": {"instruction": (3, 300), "input": (0, 600), "output": (1, 1500)}}

    def check(self, f: Fields) -> Result:
        for name in ("instruction", "input", "output"):
            text = f.get(name)
            if text is None or (name == "input" and not text.strip()):
                continue
            unit = self.p.unit
            if unit == "auto":
                unit = "chars" if is_cjk_lang(text_lang(text or f.instruction, self.lang)) \
                    else "words"
            lo_d, hi_d = self.DEFAULTS[unit][name]
            lo = getattr(self.p, f"{name}_min", None)
            hi = getattr(self.p, f"{name}_max")
            lo, hi = (lo_d if lo is None else lo), (hi_d if hi is None else hi)
            n = len(text.strip()) if unit == "chars" else len(text.split())
            if n < lo:
                return self.fail(f"{name}_too_short", **{unit: n, "min": lo})
            if n > hi:
                return self.fail(f"{name}_too_long", **{unit: n, "max": hi})
        return None
