"""A backend for any OpenAI-compatible HTTP server (vLLM, SGLang, Ollama, llama.cpp server).

``complete`` posts to ``{base}/completions`` and ``chat`` to ``{base}/chat/completions``;
both go to the one configured model, so a raw completion "on the chat model" (``RAW_CHAT``,
Magpie) is an ordinary completion. ``chat_template()`` asks llama.cpp's ``GET /props``.
Every failure becomes an :class:`LLMError` with a stable ``reason`` and a ``retryable``
flag, so that :mod:`tane.llm.retry` can decide what to do; this module never retries.

The API key is read once from an environment variable and only ever sent in the
``Authorization`` header. It is never part of a repr, an error message or a log line:
error messages quote at most 200 characters of the response *body*, with the key redacted
in case a server echoes it back.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any

import httpx

from .base import (CHAT, COMPLETION, JSON_SCHEMA, RAW_CHAT, Completion, GenParams, LLMError,
                   ModelInfo, TemplateSource)

_BODY_EXCERPT = 200


def normalise_base_url(base_url: str) -> str:
    """``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/v1/`` -> ``http://h:8000/v1``."""
    url = base_url.strip().rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    return url


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAIBackend:
    """Async client of one model on an OpenAI-compatible server."""

    capabilities = frozenset({COMPLETION, CHAT, JSON_SCHEMA, RAW_CHAT})

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, license: str = "unknown", revision: str = "",
                 json_schema: bool = True):
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.info = ModelInfo(id=model, revision=revision, license=license, backend="openai")
        if not json_schema:  # a server that rejects response_format / json_schema
            self.capabilities = frozenset({COMPLETION, CHAT, RAW_CHAT})
        key = os.environ.get(api_key_env) or ""
        self._secret = key  # kept only for redaction; never shown
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        has_key = "set" if self._secret else "unset"
        return (f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r} ({has_key}), timeout={self.timeout})")

    # -- protocol ---------------------------------------------------------------------

    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        body = self._body(params) | {"prompt": prompt}
        return await self._post("/completions", body, chat=False)

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        body = self._body(params, chat=True) | {"messages": messages}
        return await self._post("/chat/completions", body, chat=True)

    def model_for(self, kind: str) -> ModelInfo:
        return self.info

    async def chat_template(self) -> TemplateSource | None:
        """The served model's chat template from llama.cpp's ``GET /props`` (beside
        ``/v1``); None when the server has no such endpoint or reports no template."""
        root = self.base_url[:-len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        url = root + "/props"
        try:
            resp = await self._client.get(url)
        except httpx.HTTPError as e:
            raise self._error("connection", f"{url}: {type(e).__name__}: {e}",
                              retryable=True) from None
        if resp.status_code >= 400:
            return None
        try:
            props = resp.json()
        except ValueError:
            return None
        tpl = props.get("chat_template") if isinstance(props, dict) else None
        if not isinstance(tpl, str) or not tpl.strip():
            return None
        tok = {k: v.get("content") if isinstance(v, dict) else v
               for k, v in props.items() if k in ("bos_token", "eos_token")}
        name = props.get("model_alias") or str(props.get("model_path") or "").rsplit("/", 1)[-1]
        return TemplateSource(tpl, f"server:{url}", str(name or self.model),
                              str(tok.get("bos_token") or ""), str(tok.get("eos_token") or ""))

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- internals --------------------------------------------------------------------

    def _body(self, params: GenParams, chat: bool = False) -> dict[str, Any]:
        return {"model": self.model} | params.to_request(chat=chat)

    def _redact(self, text: str) -> str:
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "***")
        return text

    def _error(self, reason: str, message: str, *, retryable: bool) -> LLMError:
        return LLMError(reason, self._redact(message), retryable=retryable)

    async def _post(self, path: str, body: dict[str, Any], *, chat: bool) -> Completion:
        url = self.base_url + path
        try:
            resp = await self._client.post(url, json=body)
        except httpx.TimeoutException as e:
            err = self._error("timeout", f"no answer from {url} within {self.timeout}s "
                              f"({type(e).__name__})", retryable=True)
        except httpx.TransportError as e:
            detail = str(e) or "connection closed or reset without a response"
            err = self._error("connection", f"{url}: {type(e).__name__}: {detail}",
                              retryable=True)
        except httpx.DecodingError as e:
            err = self._error("bad_response", f"{url}: {type(e).__name__}: {e}", retryable=True)
        except httpx.RequestError as e:
            err = self._error("connection", f"{url}: {type(e).__name__}: {e}", retryable=True)
        else:
            if resp.status_code >= 400:
                raise self._status_error(resp, path) from None
            return self._parse(resp, url, chat=chat)
        # raised outside the except blocks so the httpx exception (whose request object
        # carries the headers) is neither chained nor printed in tracebacks
        raise err

    def _status_error(self, resp: httpx.Response, path: str) -> LLMError:
        code = resp.status_code
        excerpt = resp.text[:_BODY_EXCERPT]
        if code == 429:
            err = self._error("http_429", f"rate limited: {excerpt}", retryable=True)
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            err.retry_after = retry_after
            return err
        if code >= 500:
            return self._error(f"http_{code}", f"server error: {excerpt}", retryable=True)
        if code == 404 and path == "/completions":
            return self._error(
                "http_404",
                f"{self.base_url}/completions not found: this server offers no raw text "
                "completions (a chat-only server?) or the base URL is wrong; use a chat "
                f"recipe or a completion-capable server. Body: {excerpt}",
                retryable=False)
        return self._error(f"http_{code}", excerpt, retryable=False)

    def _parse(self, resp: httpx.Response, url: str, *, chat: bool) -> Completion:
        try:
            data = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise self._error("bad_response", f"{url}: response is not JSON: "
                              f"{resp.text[:_BODY_EXCERPT]}", retryable=True) from None
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
            raise self._error("bad_response", f"{url}: no usable choices in response "
                              f"({type(e).__name__}: {e}): {resp.text[:_BODY_EXCERPT]}",
                              retryable=True) from None
        return Completion(text=text or "", finish_reason=choice.get("finish_reason") or "",
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          model=self.model)
