"""Which model answers or judges: ``NAME=URL[,URL...][,KEY=VALUE...]`` or ``NAME=embedded``.

    --model base=http://127.0.0.1:8000/v1,model=Qwen/Qwen2.5-7B-Instruct
    --model tuned=http://127.0.0.1:8000/v1,model=my-lora,license=apache-2.0
    --model smol=embedded
    --model gemma=embedded,style=completion

KEY is any field of the ``llm:`` section (``model``, ``license``, ``concurrency``,
``api_key_env``, ``timeout``, ``max_retries``, ``json_schema``, ``adaptive``, ``slots``)
plus ``style`` (``chat``, the default, or ``completion`` for a base model). The judge
takes the same form, or a bare URL with ``--judge-model``. The grammar is
:mod:`tane.config.model_spec`, which ``tane run --llm`` reads too.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from ..config.llm import LLMConfig
from ..config.model_spec import NAME, STYLES, check_name, parse_spec, refuse_keys, split_name
from ..errors import TaneError

__all__ = ["NAME", "STYLES", "ModelSpec", "check_name", "parse_judge", "parse_model",
           "parse_models", "parse_target", "refuse_keys"]


@dataclass
class ModelSpec:
    name: str
    cfg: LLMConfig
    style: str = "chat"

    @property
    def where(self) -> str:
        return self.cfg.where()


def parse_target(value: str, flag: str, name: str, *, model: str | None = None,
                 license: str | None = None) -> ModelSpec:
    """``URL[,URL...][,KEY=VALUE...]`` or ``embedded[,KEY=VALUE...]`` for the model
    ``name``; ``model`` / ``license`` fill in what the value does not say."""
    t = parse_spec(value, flag, name)
    data = t.fields
    if model is not None and "model" not in data:
        data["model"] = model
    if license is not None and "license" not in data:
        data["license"] = license
    data = t.llm_fields()
    if not t.embedded and not data.get("model"):
        raise TaneError(f"{name}: a server URL needs the model it serves: add "
                        f",model=NAME (e.g. {name}={t.urls[0]},model=Qwen/Qwen2.5-7B-Instruct)",
                        field=flag)
    if t.embedded:
        data = {k: v for k, v in data.items() if k not in ("base_url", "model")}
    try:
        cfg = LLMConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise TaneError(f"{name}: {where + ': ' if where else ''}{first.get('msg')}",
                        field=flag) from None
    return ModelSpec(name, cfg, t.style or "chat")


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
    head, rest = split_name(judge)
    if head is not None:
        spec = parse_target(rest, "judge", head, model=model, license=license)
        if name:
            spec.name = check_name(name, "judge-name")
        return spec
    spec = parse_target(judge, "judge", name or "judge", model=model, license=license)
    if not name:
        name = "embedded" if spec.cfg.backend == "embedded" else \
            str(spec.cfg.model).rstrip("/").rsplit("/", 1)[-1]
    spec.name = check_name(name, "judge-name")
    return spec
