"""Build the backend a recipe (or ``--llm``) asks for, wrapped in retries and limits."""

from __future__ import annotations

from ..errors import BackendError
from ..recipe import LLMConfig
from .base import Backend, CallStats
from .retry import RetryingBackend


def apply_cli_spec(cfg: LLMConfig, spec: str | None, model: str | None) -> LLMConfig:
    """``--llm embedded`` or ``--llm http://host:port/v1 --model NAME`` over the recipe's."""
    if spec is None and model is None:
        return cfg
    data = cfg.model_dump()
    if spec is not None:
        if spec == "embedded":
            data.update(backend="embedded", base_url=None, model=None)
        elif spec.startswith(("http://", "https://")):
            data.update(backend="openai", base_url=spec)
        else:
            raise BackendError(f"--llm: expected 'embedded' or a server URL such as "
                               f"http://127.0.0.1:8000/v1, got {spec!r}")
    if model is not None:
        data["model"] = model
    if data["backend"] == "openai" and not data.get("model"):
        raise BackendError("--llm URL needs --model NAME (the model the server serves)")
    return LLMConfig.model_validate(data)


def build_backend(cfg: LLMConfig, stats: CallStats) -> Backend:
    if cfg.backend == "embedded":
        from .embedded import EmbeddedBackend

        inner: Backend = EmbeddedBackend(slots=cfg.slots)
        concurrency = max(cfg.slots, 1)
    else:
        from .openai import OpenAIBackend

        inner = OpenAIBackend(cfg.base_url or "", cfg.model or "", api_key_env=cfg.api_key_env,
                              timeout=cfg.timeout, license=cfg.license,
                              json_schema=cfg.json_schema)
        concurrency = cfg.concurrency
    return RetryingBackend(inner, stats, concurrency=concurrency, max_retries=cfg.max_retries)
