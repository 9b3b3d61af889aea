"""Token log-probabilities as a server returns them, read into one small shape.

A call that asks for them (``GenParams.logprobs = N``) gets, per generated token,
``{"token": str, "logprob": float, "top": [[token, logprob], ...]}`` with the N most
likely alternatives at that position (the server's own order), or None when the server
gave none (one that ignores the parameter). Two answer shapes are read:

* the chat shape, also llama.cpp's on ``/completions``: ``logprobs.content`` is a list of
  ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``;
* the legacy completions shape (OpenAI, vLLM): ``logprobs.tokens``,
  ``logprobs.token_logprobs`` and ``logprobs.top_logprobs`` (one ``{token: logprob}`` per
  position).

Anything else is None: the caller says that no log-probabilities came back.
"""

from __future__ import annotations

import math
from typing import Any


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if not math.isnan(x) else None


def _top(alts: Any) -> list[list[Any]]:
    out: list[list[Any]] = []
    if isinstance(alts, dict):  # legacy: {token: logprob}
        alts = [{"token": k, "logprob": v} for k, v in alts.items()]
    for a in alts if isinstance(alts, list) else []:
        if isinstance(a, dict) and isinstance(a.get("token"), str):
            lp = _num(a.get("logprob"))
            if lp is not None:
                out.append([a["token"], lp])
    return out


def read_logprobs(choice: Any) -> list[dict[str, Any]] | None:
    """The tokens of one answer choice with their log-probabilities, or None."""
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(lp, dict):
        return None
    tokens: list[dict[str, Any]] = []
    content = lp.get("content")
    if isinstance(content, list):
        for t in content:
            if not isinstance(t, dict) or not isinstance(t.get("token"), str):
                return None
            tokens.append({"token": t["token"], "logprob": _num(t.get("logprob")),
                           "top": _top(t.get("top_logprobs"))})
        return tokens or None
    toks, lps = lp.get("tokens"), lp.get("token_logprobs")
    if isinstance(toks, list) and isinstance(lps, list) and len(toks) == len(lps):
        tops = lp.get("top_logprobs")
        tops = tops if isinstance(tops, list) and len(tops) == len(toks) else [None] * len(toks)
        for tok, p, top in zip(toks, lps, tops):
            if not isinstance(tok, str):
                return None
            tokens.append({"token": tok, "logprob": _num(p), "top": _top(top)})
        return tokens or None
    return None
