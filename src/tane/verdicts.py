"""What every LLM judge's output goes through first: the first JSON object in the text,
or a :class:`VerdictError` saying why there is none (the curate judge in
:mod:`tane.methods.judge` and the eval judges in :mod:`tane.eval.verdict`)."""

from __future__ import annotations

import json
from typing import Any

from .config.judge import JudgeStep
from .errors import json_problem
from .provenance import Provenance


class VerdictError(ValueError):
    """The judge's output is not a valid verdict."""


def first_json_object(text: str) -> dict[str, Any]:
    """The first ``{...}`` block of ``text``, which must be a JSON object."""
    start = text.find("{")
    if start < 0:
        raise VerdictError("no JSON object in the output")
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise VerdictError(f"invalid JSON: {json_problem(e)}") from None
    if not isinstance(obj, dict):
        raise VerdictError("the JSON is not an object")
    return obj


def recorded_verdict(prov: Provenance) -> tuple[str, str]:
    """(score, reason) of the judge's verdict recorded in a record's provenance (its last
    judge step), as text; ("", "") without one."""
    j = prov.step(JudgeStep)
    if j is None:
        return "", ""
    return ("" if j.quality is None else str(j.quality)), j.reason
