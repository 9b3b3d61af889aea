"""What every LLM judge's output goes through first: the first JSON object in the text,
or a :class:`VerdictError` saying why there is none (the curate judge in
:mod:`tane.methods.judge` and the eval judges in :mod:`tane.eval.verdict`)."""

from __future__ import annotations

import json
from typing import Any

from .errors import json_problem


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


def recorded_verdict(prov: dict[str, Any]) -> tuple[str, str]:
    """(score, reason) of the judge's verdict recorded in a record's provenance (its
    ``judge``, else the last judge step), as text; ("", "") without one."""
    j = prov.get("judge")
    if not isinstance(j, dict):
        j = next((s for s in reversed(prov.get("steps") or []) if isinstance(s, dict)
                  and "judge" in str(s.get("stage") or s.get("method") or "")), None)
    if not isinstance(j, dict):
        return "", ""
    score = j.get("quality", j.get("score", ""))  # the judge stage writes "quality"
    return ("" if score is None else str(score)), str(j.get("reason") or "")
