"""Command-line overrides of a recipe's models: ``--llm``, ``--model``, ``--license`` and
``--timeout``.

``--llm`` takes the model-spec grammar that ``tane eval`` takes too
(:mod:`tane.config.model_spec`): ``[NAME=]TARGET[,KEY=VALUE...]``, for the default model
(the recipe's ``llm:``) or the named model of ``models:``; the keys it does not give keep
the recipe's values::

    --llm http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-7B-Instruct
    --llm big=http://10.0.0.2:8000/v1,model=Qwen/Qwen2.5-32B-Instruct,license=apache-2.0

The other flags each set one key, a bare value for the default model and ``NAME=VALUE``
for a named one (``--timeout 600 --timeout big=900``). ``--model`` beside ``--llm URL`` is
the older spelling of ``,model=``: it still works, and the command line says so.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from pydantic import ValidationError

from ..config.llm import LLMConfig
from ..config.model_spec import parse_spec, split_name
from ..errors import BackendError, TaneError
from ..recipe import Recipe

_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)=(.*)$")


def split_named(flag: str, values: Sequence[str]) -> dict[str, str]:
    """``["x", "big=y"]`` -> ``{"default": "x", "big": "y"}``. For ``--llm``, a value that
    starts with a spec's key (``model=...``) names no model."""
    out: dict[str, str] = {}
    for v in values:
        m = _NAMED.match(v)
        # a URL such as http://h/v1?a=b is not NAME=VALUE: NAME has no ':' or '/'
        name, value = (m.group(1), m.group(2)) if m and "://" not in m.group(1) else ("default", v)
        if flag == "--llm" and name != "default" and split_name(v)[0] is None:
            name, value = "default", v
        if name in out:
            who = "the default model" if name == "default" else repr(name)
            raise TaneError(f"{flag} given twice for {who}", field=flag.lstrip("-"))
        out[name] = value
    return out


def _seconds(value: str, who: str) -> float:
    try:
        secs = float(value)
    except ValueError:
        secs = float("nan")
    if not secs > 0 or secs == float("inf"):
        raise TaneError(f"--timeout{who}: expected seconds above 0, got {value!r}",
                        field="timeout")
    return secs


def _apply(cfg: LLMConfig, spec: str | None, model: str | None, license: str | None,
           who: str, timeout: str | None = None) -> LLMConfig:
    data: dict[str, Any] = cfg.model_dump()
    if timeout is not None:
        data["timeout"] = _seconds(timeout, who)
    said: dict[str, Any] = {}  # the keys the spec gives
    if spec is not None:
        try:
            t = parse_spec(spec, "llm", styles=False)
        except TaneError as e:
            raise BackendError(f"--llm{who}: {e.message}", field="llm") from None
        said = dict(t.fields)
        data.update(t.llm_fields() | ({"model": said["model"]} if "model" in said else {}))
    if model is not None and "model" not in said:
        data["model"] = model
    if license is not None and "license" not in said:
        data["license"] = license
    if data["backend"] == "openai" and not data.get("model"):
        named = who.strip(" ()") + "=" if who else ""
        raise BackendError(f"--llm{who} URL needs the model the server serves: --llm "
                           f"{named}URL,model=NAME (or --model {named}NAME)", field="model")
    try:
        return LLMConfig.model_validate(data)
    except ValidationError as e:  # its own text would quote the input (a key in a URL)
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise BackendError(f"--llm{who}: {where + ': ' if where else ''}{first['msg']}",
                           field="llm") from None


def apply_overrides(recipe: Recipe, llm: Sequence[str] = (), model: Sequence[str] = (),
                    license: Sequence[str] = (), timeout: Sequence[str] = ()) -> Recipe:
    specs, models, licences = (split_named("--llm", llm), split_named("--model", model),
                               split_named("--license", license))
    timeouts = split_named("--timeout", timeout)
    names = set(specs) | set(models) | set(licences) | set(timeouts)
    unknown = sorted(n for n in names if n != "default" and n not in recipe.models)
    if unknown:
        known = ", ".join(recipe.models) or "none"
        raise TaneError(f"no model named {unknown[0]!r} in the recipe's models: (known: {known})",
                        field="llm")
    if not names:
        return recipe
    new_models = dict(recipe.models)
    new_llm = recipe.llm
    for name in sorted(names):
        who = "" if name == "default" else f" ({name})"
        cfg = _apply(recipe.llm_for(name), specs.get(name), models.get(name),
                     licences.get(name), who, timeouts.get(name))
        if name == "default":
            new_llm = cfg
        else:
            new_models[name] = cfg
    return recipe.model_copy(update={"llm": new_llm, "models": new_models})
