"""The ``llm:`` section and each entry of ``models:``: which model serves a stage."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import Strict

# query parameters that carry a key in some servers' URLs (compared in lower case)
KEY_PARAMS = frozenset({"api_key", "api-key", "apikey", "key", "token", "access_token"})


def key_in_url(url: str) -> str | None:
    """What part of ``url`` carries a key (``user:password@``, or a query parameter such as
    ``?api_key=``), or None. A URL is shown on the console and stored in manifest.json,
    stats.json and the dataset card, so one with a key is refused, never quoted."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # not a URL urllib can split (a bad IPv6 host ...): look for '@'
        return "the user:password@ part" if "@" in url else None
    if "@" in parts.netloc:
        return "the user:password@ part"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in KEY_PARAMS:
            return f"its {name!r} query parameter"
    return None


def key_in_url_message(url: str) -> str | None:
    """The one-line refusal of a ``url`` that carries a key (it does not quote the URL),
    or None."""
    where = key_in_url(url)
    if where:
        return (f"the server URL carries a key ({where}), and a URL is printed and stored "
                "in the run directory and the dataset card: give the URL without it and "
                "put the key in $OPENAI_API_KEY (or the variable named by api_key_env)")
    return None


_USERINFO = re.compile(r"(https?://)[^/\s@'\"]*@", re.IGNORECASE)
_KEY_PARAM = re.compile(r"([?&](?:%s)=)[^&#\s'\"]*" % "|".join(map(re.escape, KEY_PARAMS)),
                        re.IGNORECASE)


def hide_url_keys(text: str) -> str:
    """``text`` with the ``user:password@`` of every http(s) URL left out and the value of
    a key query parameter replaced by ``***``: for what an older tane stored (a run
    directory made before such URLs were refused)."""
    return _KEY_PARAM.sub(r"\1***", _USERINFO.sub(r"\1", text))


class LLMConfig(Strict):
    backend: Literal["embedded", "openai", "vllm"] = "embedded"
    base_url: str | list[str] | None = Field(None, description=(
        "an OpenAI-compatible server, or a list of servers of the same model (requests go "
        "to the one with the fewest in flight)"))
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    license: str = Field("unknown", description=(
        "the model's licence, for provenance and the card, when tane cannot tell it from "
        "the model's name"))
    concurrency: int = Field(4, ge=1, le=4096, description=(
        "requests in flight at most (the HTTP connection pool follows it)"))
    adaptive: bool = Field(True, description=(
        "openai: lower the concurrency when the server answers 429/503 or slows down, raise "
        "it again when it recovers (AIMD)"))
    slots: int = Field(1, ge=1, le=64, description="embedded only: parallel decode slots")
    threads: int | None = Field(None, ge=1, le=256, description=(
        "embedded only: llama.cpp decode threads (default: the CPUs free of other load, "
        "between 1 and 8, decided at start)"))
    timeout: float = Field(120.0, gt=0, description=(
        "openai: seconds to wait for a server to connect and, after that, for each next "
        "part of an answer; a call without an answer in time is retried after a growing "
        "wait, and the adaptive limit is cut (tane run --timeout)"))
    max_retries: int = Field(4, ge=0, le=20)
    engine_args: dict[str, Any] = Field(default_factory=dict, description=(
        "vllm only: arguments of vllm.LLM (max_model_len, gpu_memory_utilization, "
        "tensor_parallel_size, ...); prefix caching is on unless this says otherwise"))
    json_schema: bool = Field(True, description="openai only: false for a server that "
                                                "rejects JSON-schema constrained output")

    @field_validator("base_url")
    @classmethod
    def _http_urls(cls, v: str | list[str] | None) -> str | list[str] | None:
        urls = [v] if isinstance(v, str) else (v or [])
        if isinstance(v, list) and not v:
            raise ValueError("base_url: an empty list")
        for u in urls:
            refused = key_in_url_message(u)
            if refused:  # a custom error: pydantic's "Value error, " prefix left off
                raise PydanticCustomError("key_in_url", refused)
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"base_url must start with http:// or https://, got {u!r}")
        return v

    @model_validator(mode="after")
    def _server_needs_url(self) -> "LLMConfig":
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("backend 'openai' needs both base_url and model")
        if self.backend == "vllm" and not self.model:
            raise ValueError("backend 'vllm' needs model (a Hugging Face id or a path)")
        return self

    @property
    def urls(self) -> list[str]:
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url or [])

    def where(self) -> str:
        """Short description for the console (never carries a key)."""
        if self.backend == "embedded":
            return f"embedded, {self.slots} slot(s)"
        if self.backend == "vllm":
            return f"{self.model} in-process (vLLM)"
        urls = self.urls
        more = f" (+{len(urls) - 1} more)" if len(urls) > 1 else ""
        return f"{self.model} at {urls[0]}{more}"
