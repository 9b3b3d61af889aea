"""A backend for any OpenAI-compatible HTTP server (vLLM, SGLang, Ollama, llama.cpp server).

``complete`` posts to ``{base}/completions`` and ``chat`` to ``{base}/chat/completions``;
both go to the one configured model, so a raw completion "on the chat model" (``RAW_CHAT``,
Magpie) is an ordinary completion. ``chat_template()`` asks llama.cpp's ``GET /props``.
Every failure becomes an :class:`LLMError` with a stable ``reason`` and a ``retryable``
flag, so that :mod:`tane.llm.retry` can decide what to do; this module never retries.

The HTTP client is aiohttp, with a connection pool of ``max_connections`` (give it the
concurrency the caller allows, so that many requests really are open at once). Measured
with 512 chat calls in flight against a fast local simulated server, through
``RetryingBackend``: about 0.2 ms of client CPU per call with aiohttp 3.14, against 16-19 ms
with httpx 0.28 (its pool raised to 512), which could not keep 512 calls open.

``base_url`` may be a list of endpoints that serve the same model: each request goes to the
one with the fewest requests in flight, and one that keeps failing is taken out for a while
(:mod:`tane.llm.endpoints`). ``endpoint_stats()`` reports the per-endpoint counts.

The API key is read once from an environment variable and only ever sent in the
``Authorization`` header. It is never part of a repr, an error message or a log line:
error messages quote at most 200 characters of the response *body*, with the key redacted
in case a server echoes it back. A ``base_url`` with a key in it (``user:password@``,
``?api_key=``) is refused, since URLs are shown and stored.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from typing import Any

import aiohttp

from ..config.llm import key_in_url_message
from .base import (CHAT, CLOSED, COMPLETION, JSON_SCHEMA, RAW_CHAT, Backend, Completion,
                   GenParams, LLMError, ModelInfo, TemplateSource)
from .endpoints import FAILED, NEUTRAL, OK, EndpointPool
from .logprobs import read_logprobs

_BODY_EXCERPT = 200
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class OpenAIBackend(Backend):
    """Async client of one model on one or more OpenAI-compatible servers."""

    capabilities = frozenset({COMPLETION, CHAT, JSON_SCHEMA, RAW_CHAT})

    def __init__(self, base_url: str | list[str], model: str, *,
                 api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0,
                 license: str = "unknown", revision: str = "", json_schema: bool = True,
                 max_connections: int = 100, fail_threshold: int = 3,
                 cooldown: float = 5.0, max_cooldown: float = 60.0):
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("base_url: give at least one server URL")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        for u in urls:  # the key would be shown in messages and endpoint stats
            refused = key_in_url_message(u)
            if refused:
                raise ValueError(refused)
        self.base_urls = [normalise_base_url(u) for u in urls]
        self.base_url = self.base_urls[0]
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_connections = max_connections
        self.info = ModelInfo(id=model, revision=revision, license=license, backend="openai")
        if not json_schema:  # a server that rejects response_format / json_schema
            self.capabilities = frozenset({COMPLETION, CHAT, RAW_CHAT})
        key = os.environ.get(api_key_env) or ""
        self._secret = key  # kept only for redaction; never shown
        self._headers = {"Content-Type": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._pool = EndpointPool(self.base_urls, fail_threshold=fail_threshold,
                                  cooldown=cooldown, max_cooldown=max_cooldown)
        # aiohttp sessions belong to an event loop: made on first use, in the caller's loop
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed_loop: asyncio.AbstractEventLoop | None = None  # aclose()d in it

    def __repr__(self) -> str:
        has_key = "set" if self._secret else "unset"
        urls = self.base_url if len(self.base_urls) == 1 else self.base_urls
        return (f"OpenAIBackend(base_url={urls!r}, model={self.model!r}, "
                f"api_key_env={self.api_key_env!r} ({has_key}), timeout={self.timeout}, "
                f"max_connections={self.max_connections})")

    # -- protocol ---------------------------------------------------------------------

    async def complete(self, prompt: str, params: GenParams,
                       target: str = COMPLETION) -> Completion:
        body = self._body(params)
        body["prompt"] = prompt
        return await self._post("/completions", body, chat=False,
                                logprobs=bool(params.logprobs))

    async def chat(self, messages: list[dict[str, str]], params: GenParams) -> Completion:
        body = self._body(params, chat=True)
        body["messages"] = messages
        return await self._post("/chat/completions", body, chat=True,
                                logprobs=bool(params.logprobs))

    def model_for(self, kind: str) -> ModelInfo:
        return self.info

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Per endpoint: url, state (up / out / half_open), in_flight, sent (attempts),
        ok, failed (attempts that failed through the endpoint), times_out."""
        return self._pool.stats()

    async def chat_template(self) -> TemplateSource | None:
        """The served model's chat template from llama.cpp's ``GET /props`` (beside
        ``/v1``) of the first endpoint; None when the server has no such endpoint or
        reports no template."""
        root = self.base_url[:-len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        url = root + "/props"
        err: LLMError | None = None
        try:
            async with self._http().get(url) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, OSError) as e:  # TimeoutError is an OSError
            err = self._error("connection", f"{url}: {type(e).__name__}: {e}", retryable=True)
        if err is not None:
            raise err
        if status >= 400:
            return None
        try:
            props = json.loads(raw)
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

    async def check(self) -> list[str]:
        """Before a run: ``GET {base}/models`` on each endpoint, with the call timeout.
        Raises a fatal :class:`LLMError` when one endpoint refuses the API key (401/403),
        and a retryable one (``timeout``: slow; ``connection``: unreachable) when no
        endpoint answers, so that the retry wrapper tries again as it does a call; returns
        warnings (an endpoint down or slow while others answer, the model not in a list
        the server gives). A server without ``/models`` passes."""
        session = self._http()
        warnings: list[str] = []
        down: list[str] = []
        slow: list[str] = []
        for base in self.base_urls:
            url = base + "/models"
            try:  # the session's timeouts: those of a call
                async with session.get(url) as resp:
                    status, raw = resp.status, await resp.read()
            except aiohttp.ConnectionTimeoutError as e:  # no connection in time
                down.append(f"{url}: {type(e).__name__}: no connection within "
                            f"{self.timeout:g}s")
                continue
            except TimeoutError:  # connected, but no answer in time (asyncio's, aiohttp's)
                slow.append(f"{url} is slow: no answer within {self.timeout:g}s")
                continue
            except (aiohttp.ClientError, OSError) as e:
                down.append(f"{url}: {type(e).__name__}: {str(e) or 'no answer'}")
                continue
            if status in (401, 403):
                raise self._error(f"http_{status}", f"{url} refused the request (HTTP "
                                  f"{status}): check the API key in ${self.api_key_env}",
                                  retryable=False)
            if status >= 400:
                continue
            try:
                ids = [m.get("id") for m in json.loads(raw).get("data") or []]
            except (ValueError, AttributeError):
                continue
            if ids and self.model not in ids and not any(
                    str(i).rsplit("/", 1)[-1].startswith(self.model) for i in ids if i):
                warnings.append(f"{base} lists no model {self.model!r} (it serves "
                                f"{', '.join(map(str, ids[:5]))}); if it needs the exact "
                                "name, every call will fail")
        if len(down) + len(slow) == len(self.base_urls):
            if slow:
                raise self._error("timeout", f"{slow[0]} (it accepts connections but has "
                                  "not answered GET /models; a busy server needs a longer "
                                  "--timeout)", retryable=True)
            raise self._error("connection", f"cannot reach the server: {down[0]}",
                              retryable=True)
        warnings += [f"endpoint down at start: {d}" for d in down]
        warnings += [f"endpoint slow at start: {d}" for d in slow]
        return warnings

    async def aclose(self) -> None:
        """Close the connections. A call still running in this event loop (one a failed
        run or eval has not cancelled yet) then fails instead of opening a session that
        nothing would close; a later event loop opens a new one."""
        self._closed_loop = asyncio.get_running_loop()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- internals --------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        session = self._session
        loop = asyncio.get_running_loop()
        if loop is self._closed_loop:
            raise LLMError(CLOSED, "the client is closed: the run is stopping",
                           fatal=True)
        if session is None or session.closed or self._loop is not loop:
            # timeouts as httpx's Timeout(t): connecting and each wait for data, not the
            # whole call (a long generation that is still answering is not cut off)
            timeout = aiohttp.ClientTimeout(total=None, connect=None,
                                            sock_connect=self.timeout, sock_read=self.timeout)
            # keep-alive shorter than the usual server's 5 s, so that an idle connection is
            # dropped here before the server closes it under a request
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0,
                                             keepalive_timeout=4.0)
            session = aiohttp.ClientSession(connector=connector, timeout=timeout,
                                            headers=self._headers, trust_env=False)
            self._session, self._loop = session, loop
        return session

    def _body(self, params: GenParams, chat: bool = False) -> dict[str, Any]:
        body = {"model": self.model}
        body.update(params.to_request(chat=chat))
        return body

    def _redact(self, text: str) -> str:
        if self._secret and self._secret in text:
            text = text.replace(self._secret, "***")
        return text

    def _error(self, reason: str, message: str, *, retryable: bool) -> LLMError:
        return LLMError(reason, self._redact(message), retryable=retryable)

    async def _post(self, path: str, body: dict[str, Any], *, chat: bool,
                    logprobs: bool = False) -> Completion:
        payload = _dumps(body).encode()
        session = self._http()
        lease = await self._pool.acquire()
        url = lease.endpoint.url + path
        outcome = NEUTRAL  # also when cancelled: says nothing about the endpoint
        try:
            err: LLMError | None = None
            try:
                async with session.post(url, data=payload) as resp:
                    status = resp.status
                    raw = await resp.read()
                    retry_after = resp.headers.get("Retry-After") if status == 429 else None
            except TimeoutError as e:  # asyncio's and aiohttp's timeouts
                err = self._error("timeout", f"no answer from {url} within {self.timeout}s "
                                  f"({type(e).__name__})", retryable=True)
            except (aiohttp.ClientError, OSError) as e:
                detail = str(e) or "connection closed or reset without a response"
                err = self._error("connection", f"{url}: {type(e).__name__}: {detail}",
                                  retryable=True)
            if err is not None:
                # raised outside the except blocks so the client's exception (whose request
                # object carries the headers) is neither chained nor printed in tracebacks
                outcome = FAILED
                raise err
            if status >= 400:
                outcome = FAILED if status >= 500 else NEUTRAL
                raise self._status_error(status, raw, retry_after, path, lease.endpoint.url)
            outcome = FAILED  # until the body is read
            result = self._parse(raw, url, chat=chat, logprobs=logprobs)
            outcome = OK
            return result
        finally:
            self._pool.release(lease, outcome)

    def _status_error(self, code: int, raw: bytes, retry_after: str | None, path: str,
                      base: str) -> LLMError:
        excerpt = _text(raw[:4 * _BODY_EXCERPT])[:_BODY_EXCERPT]
        if code == 429:
            err = self._error("http_429", f"rate limited: {excerpt}", retryable=True)
            err.retry_after = parse_retry_after(retry_after)
            return err
        if code >= 500:
            return self._error(f"http_{code}", f"server error: {excerpt}", retryable=True)
        if code in (401, 403):
            return self._error(f"http_{code}", f"{base}{path} refused the request (HTTP "
                               f"{code}): check the API key in ${self.api_key_env}. Body: "
                               f"{excerpt}", retryable=False)
        if code == 404 and path == "/completions":
            return self._error(
                "http_404",
                f"{base}/completions not found: this server offers no raw text "
                "completions (a chat-only server?) or the base URL is wrong; use a chat "
                f"recipe or a completion-capable server. Body: {excerpt}",
                retryable=False)
        return self._error(f"http_{code}", f"{base}{path}: {excerpt}", retryable=False)

    def _parse(self, raw: bytes, url: str, *, chat: bool, logprobs: bool = False
               ) -> Completion:
        try:
            data = json.loads(raw)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._error("bad_response", f"{url}: response is not JSON: "
                              f"{_text(raw[:4 * _BODY_EXCERPT])[:_BODY_EXCERPT]}",
                              retryable=True) from None
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] if chat else choice["text"]
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
            finish = choice.get("finish_reason") or ""
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
            raise self._error("bad_response", f"{url}: no usable choices in response "
                              f"({type(e).__name__}: {e}): "
                              f"{_text(raw[:4 * _BODY_EXCERPT])[:_BODY_EXCERPT]}",
                              retryable=True) from None
        return Completion(text=text or "", finish_reason=finish,
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          model=self.model,
                          logprobs=read_logprobs(choice) if logprobs else None)
