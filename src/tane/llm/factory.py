"""Build the backend one model of a recipe asks for, wrapped in retries and limits.
(Command-line overrides of a recipe's models: :mod:`tane.pipeline.overrides`.)"""

from __future__ import annotations

from ..config.llm import LLMConfig
from .base import Backend, CallStats
from .retry import RetryingBackend


def build_backend(cfg: LLMConfig, stats: CallStats) -> Backend:
    if cfg.backend == "embedded":
        from .embedded import EmbeddedBackend

        inner: Backend = EmbeddedBackend(slots=cfg.slots, threads=cfg.threads)
        concurrency = max(cfg.slots, 1)
    elif cfg.backend == "vllm":
        from .vllm import VLLMBackend

        inner = VLLMBackend(cfg.model or "", license=cfg.license,
                            engine_args=cfg.engine_args, max_batch=cfg.concurrency)
        concurrency = cfg.concurrency
    else:
        from .openai import OpenAIBackend

        inner = OpenAIBackend(cfg.urls, cfg.model or "", api_key_env=cfg.api_key_env,
                              timeout=cfg.timeout, license=cfg.license,
                              json_schema=cfg.json_schema, max_connections=cfg.concurrency)
        concurrency = cfg.concurrency
    return RetryingBackend(inner, stats, concurrency=concurrency, max_retries=cfg.max_retries,
                           adaptive=cfg.adaptive and cfg.backend == "openai",
                           timeout=cfg.timeout if cfg.backend == "openai" else 0.0)
