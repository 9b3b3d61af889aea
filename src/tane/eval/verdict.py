"""What a judge must answer, and the strict reading of what it did answer.

Grades: ``{"reason": str, "score": int}`` with the score on the scale (1-5 or 1-10).
Comparisons: ``{"reason": str, "verdict": ...}`` with the verdict ``A``, ``B`` or ``tie``, or
with 5-level labels ``A>>B``, ``A>B``, ``A=B``, ``B>A``, ``B>>A``.

Where the backend can hold its output to a JSON schema (llama.cpp's server and vLLM read
``response_format: json_schema``) the schema below is sent. Either way the output is read
strictly: the first JSON object of the text, every field checked; anything else is a
:class:`VerdictError`, never a score.
"""

from __future__ import annotations

from typing import Any

from ..verdicts import VerdictError, first_json_object

REASON_MAX = 600
# 5-level labels -> level (+2: A much better ... -2: B much better)
LEVELS5 = {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}
LEVELS3 = {"A": 1, "B": -1, "tie": 0}


def reason_chars(max_tokens: int) -> int:
    """Room for the reason so that the JSON can end within ``max_tokens``."""
    return max(16, min(REASON_MAX, (max_tokens - 40) // 2))


def score_schema(scale: int, max_tokens: int) -> dict[str, Any]:
    return {"title": "grade", "type": "object",
            "properties": {"reason": {"type": "string", "minLength": 1,
                                      "maxLength": reason_chars(max_tokens)},
                           "score": {"type": "integer", "minimum": 1, "maximum": scale}},
            "required": ["reason", "score"], "additionalProperties": False}


def verdict_schema(levels: int, max_tokens: int) -> dict[str, Any]:
    labels = list(LEVELS5 if levels == 5 else LEVELS3)
    return {"title": "comparison", "type": "object",
            "properties": {"reason": {"type": "string", "minLength": 1,
                                      "maxLength": reason_chars(max_tokens)},
                           "verdict": {"type": "string", "enum": labels}},
            "required": ["reason", "verdict"], "additionalProperties": False}


def parse_score(text: str, scale: int) -> tuple[int, str]:
    """(score, reason) from a grade; VerdictError if anything is off."""
    obj = first_json_object(text)
    if "score" not in obj:
        raise VerdictError("missing field: score")
    s = obj["score"]
    if isinstance(s, bool) or not isinstance(s, (int, float)) or s != int(s):
        raise VerdictError(f"score is not an integer: {s!r}")
    if not 1 <= int(s) <= scale:
        raise VerdictError(f"score {s} is out of range 1-{scale}")
    reason = obj.get("reason", "")
    if not isinstance(reason, str):
        raise VerdictError("reason is not a string")
    return int(s), reason.strip()


def parse_verdict(text: str, levels: int) -> int:
    """The level of a comparison, from A's side: +1 A better, -1 B better, 0 tie (3
    labels), or -2..+2 (5 labels). VerdictError if anything is off."""
    obj = first_json_object(text)
    if "verdict" not in obj:
        raise VerdictError("missing field: verdict")
    v = obj["verdict"]
    if not isinstance(v, str):
        raise VerdictError(f"verdict is not a string: {v!r}")
    norm = v.strip().replace(" ", "").replace("≫", ">>").replace("＞", ">").replace("＝", "=")
    table = LEVELS5 if levels == 5 else LEVELS3
    if levels != 5 and norm.lower() == "tie":
        norm = "tie"
    if norm not in table:
        raise VerdictError(f"verdict {v!r} is not one of {', '.join(table)}")
    return table[norm]
