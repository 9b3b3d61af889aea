"""Hints for recipe errors: "did you mean" for a misspelled key or method, and the keys a
section allows. Pure functions over the pydantic models; no I/O."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel

from .registry import METHODS


def did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    """ ``"; did you mean 'x'?"`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    if not close and isinstance(word, str):  # a different case or separator
        norm = {o.lower().replace("-", "_"): o for o in options}
        hit = norm.get(word.lower().replace("-", "_"))
        close = [hit] if hit else []
    return f"; did you mean {close[0]!r}?" if close else ""


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type[BaseModel]] = []
    for a in get_args(tp):
        out += _models_in(a)
    return out


def keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the section at ``loc`` (pydantic's error location, the union
    tag of a stage included), or [] when that section is not a model."""
    models = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        if part in METHODS and any(m.model_fields.get("method") is None for m in models):
            models = [METHODS[part].config]
            continue
        nxt = [t for m in models if part in m.model_fields
               for t in _models_in(m.model_fields[part].annotation)]
        if any(part in m.model_fields for m in models):
            if not nxt:
                return []
            models = nxt
        # else: a dict key (models: NAME) — the value's model stays the same
    names: list[str] = []
    for m in models:
        names += [n for n in m.model_fields if n not in names]
    return names


def unknown_method(name: Any) -> str:
    valid = list(METHODS)
    return (f"unknown method {name!r}{did_you_mean(name, valid) if isinstance(name, str) else ''}"
            f" (valid: {', '.join(valid)})")
