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


def models_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The models of the section at ``loc`` (pydantic's error location, the union tag of
    a stage included), or [] when that section is not a model."""
    models = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        if part in METHODS and not any(part in m.model_fields for m in models) \
                and any("method" in m.model_fields for m in models):  # a stage's tag
            models = [METHODS[part].config]
            continue
        nxt = [t for m in models if part in m.model_fields
               for t in _models_in(m.model_fields[part].annotation)]
        if any(part in m.model_fields for m in models):
            if not nxt:
                return []
            models = nxt
        # else: a dict key (models: NAME) — the value's model stays the same
    return models


def keys_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the section at ``loc``, or [] when that section is not a
    model."""
    names: list[str] = []
    for m in models_at(root, loc):
        names += [n for n in m.model_fields if n not in names]
    return names


def _section(tp: Any) -> type[BaseModel] | None:
    """The model of a field that holds one section (``sampling:``, ``novelty:``; also
    when optional), not a list or a mapping of them."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    args = [a for a in get_args(tp) if a is not type(None)]
    if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0]
    return None


def unknown_key_hint(word: str, root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """What to say of an unknown key ``word`` in the section at ``loc``: that it goes
    under one of the section's own sections (``temperature`` at a stage: under
    ``sampling:``), or the closest key, here or in such a section; ``""`` for none."""
    models = models_at(root, loc)
    own = keys_at(root, loc)
    under: dict[str, list[str]] = {}  # a key of a section here -> the sections holding it
    for m in models:
        for name, f in m.model_fields.items():
            sub = _section(f.annotation)
            for key in sub.model_fields if sub is not None else ():
                if name not in under.setdefault(key, []):
                    under[key].append(name)
    if word in under:
        where = " or ".join(f"{s}:" for s in under[word])
        return f"; {word!r} goes under {where}"
    close = difflib.get_close_matches(str(word), own + [k for k in under if k not in own],
                                      n=1, cutoff=0.6)
    if close and close[0] not in own:
        where = " or ".join(f"{s}:" for s in under[close[0]])
        return f"; did you mean {close[0]!r} under {where}?"
    return did_you_mean(word, own)


def unknown_method(name: Any) -> str:
    valid = list(METHODS)
    return (f"unknown method {name!r}{did_you_mean(name, valid) if isinstance(name, str) else ''}"
            f" (valid: {', '.join(valid)})")
