"""Which model answers or judges: ``NAME=URL[,URL...][,KEY=VALUE...]`` or ``NAME=embedded``.

    --model base=http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-7B-Instruct
    --model tuned=http://127.0.0.1:8000/v1,model=my-lora,license=apache-2.0
    --model smol=embedded
    --model gemma=embedded,style=completion

KEY is any field of the ``llm:`` section (``model``, ``license``, ``concurrency``,
``api_key_env``, ``timeout``, ``max_retries``, ``json_schema``, ``adaptive``, ``slots``)
plus ``style`` (``chat``, the default, or ``completion`` for a base model). The judge
takes the same form, or a bare URL with ``--judge-model``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..config.llm import LLMConfig, key_in_url_message
from ..errors import TaneError

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
STYLES = ("chat", "completion")
_INTS = {"concurrency", "max_retries", "slots", "threads"}
_FLOATS = {"timeout"}
_BOOLS = {"json_schema", "adaptive"}


@dataclass
class ModelSpec:
    name: str
    cfg: LLMConfig
    style: str = "chat"

    @property
    def where(self) -> str:
        return self.cfg.where()


def _value(key: str, raw: str, flag: str) -> Any:
    try:
        if key in _INTS:
            return int(raw)
        if key in _FLOATS:
            return float(raw)
    except ValueError:
        raise TaneError(f"{key}={raw!r} is not a number", field=flag) from None
    if key in _BOOLS:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise TaneError(f"{key}={raw!r}: expected true or false", field=flag)
    return raw


def refuse_keys(value: str, flag: str, name: str = "") -> None:
    """One line, before any message quotes ``value``, when a server URL in it carries a
    key (``user:password@`` or ``?api_key=``): a URL is printed and stored."""
    for part in value.split(","):
        for url in (part.strip(), part.partition("=")[2].strip()):
            refused = key_in_url_message(url) if url.startswith(("http://", "https://")) \
                else None
            if refused:
                raise TaneError(f"{name + ': ' if name else ''}{refused}", field=flag)


def parse_target(value: str, flag: str, name: str, *, model: str | None = None,
                 license: str | None = None) -> ModelSpec:
    """``URL[,URL...][,KEY=VALUE...]`` or ``embedded[,KEY=VALUE...]`` for the model
    ``name``; ``model`` / ``license`` fill in what the value does not say."""
    urls: list[str] = []
    data: dict[str, Any] = {}
    style = "chat"
    embedded = False
    refuse_keys(value, flag, name)
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part == "embedded":
            embedded = True
        elif part.startswith(("http://", "https://")):
            urls.append(part)
        elif "=" in part:
            key, raw = (s.strip() for s in part.split("=", 1))
            if key == "style":
                if raw not in STYLES:
                    raise TaneError(f"style={raw!r}: expected chat or completion", field=flag)
                style = raw
                continue
            if key not in LLMConfig.model_fields or key in ("backend", "base_url"):
                known = ", ".join(sorted(k for k in LLMConfig.model_fields
                                         if k not in ("backend", "base_url")) + ["style"])
                raise TaneError(f"unknown option {key!r} in {value!r} (known: {known})",
                                field=flag)
            data[key] = _value(key, raw, flag)
        else:
            raise TaneError(f"expected 'embedded', a server URL (http://...) or KEY=VALUE, "
                            f"got {part!r} in {value!r}", field=flag)
    if embedded == bool(urls):
        raise TaneError(f"{name}: give either 'embedded' or server URL(s), e.g. "
                        f"{name}=http://127.0.0.1:8000/v1,model=NAME", field=flag)
    if model is not None and "model" not in data:
        data["model"] = model
    if license is not None and "license" not in data:
        data["license"] = license
    if embedded:
        data["backend"] = "embedded"
        data.pop("model", None)
    else:
        data.update(backend="openai", base_url=urls[0] if len(urls) == 1 else urls)
        if not data.get("model"):
            raise TaneError(f"{name}: a server URL needs the model it serves: add "
                            f",model=NAME (e.g. {name}={urls[0]},model=Qwen/Qwen2.5-7B-Instruct)",
                            field=flag)
    try:
        cfg = LLMConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise TaneError(f"{name}: {where + ': ' if where else ''}{first.get('msg')}",
                        field=flag) from None
    return ModelSpec(name, cfg, style)


def check_name(name: str, flag: str) -> str:
    if not NAME.match(name):
        raise TaneError(f"model name {name!r}: use letters, digits, '_', '.', '-' "
                        "(at most 64)", field=flag)
    return name


def parse_model(spec: str, flag: str = "model") -> ModelSpec:
    """``NAME=URL...`` or ``NAME=embedded...`` (see the module doc)."""
    refuse_keys(spec, flag)
    name, sep, rest = spec.partition("=")
    if not sep or "://" in name or not name.strip():
        raise TaneError(f"expected NAME=URL[,model=...] or NAME=embedded, got {spec!r}",
                        field=flag)
    return parse_target(rest, flag, check_name(name.strip(), flag))


def parse_models(specs: list[str], licenses: list[str] = ()) -> dict[str, ModelSpec]:
    """Every ``--model``; ``--license NAME=LICENCE`` sets a model's licence."""
    out: dict[str, ModelSpec] = {}
    for spec in specs:
        m = parse_model(spec)
        if m.name in out:
            raise TaneError(f"--model given twice for {m.name!r}", field="model")
        out[m.name] = m
    for lic in licenses:
        name, sep, value = lic.partition("=")
        if not sep or name not in out:
            raise TaneError(f"--license expects NAME=LICENCE for a --model NAME, got {lic!r}",
                            field="license")
        out[name].cfg = out[name].cfg.model_copy(update={"license": value})
    return out


def parse_judge(judge: str, model: str | None = None, license: str | None = None,
                name: str | None = None) -> ModelSpec:
    """``--judge URL`` (+ ``--judge-model``), ``--judge embedded`` or
    ``--judge NAME=URL,model=...``. The judge's name defaults to the model's last path
    part (``Qwen/Qwen2.5-32B-Instruct`` -> ``Qwen2.5-32B-Instruct``)."""
    refuse_keys(judge, "judge")
    head, sep, rest = judge.partition("=")
    if sep and "://" not in head and "," not in head and NAME.match(head.strip()):
        spec = parse_target(rest, "judge", head.strip(), model=model, license=license)
        if name:
            spec.name = check_name(name, "judge-name")
        return spec
    spec = parse_target(judge, "judge", name or "judge", model=model, license=license)
    if not name:
        name = "embedded" if spec.cfg.backend == "embedded" else \
            str(spec.cfg.model).rstrip("/").rsplit("/", 1)[-1]
    spec.name = check_name(name, "judge-name")
    return spec
