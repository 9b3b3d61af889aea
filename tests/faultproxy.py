"""FaultProxy: the one place in the test suite where faults are injected.

A real server (llama.cpp here) cannot be made to fail on demand, so this small, real HTTP
reverse proxy sits between a client and the real server and follows a deterministic fault
schedule, one entry consumed per request in arrival order, then "ok" forever:

* ``"ok"``   - forward the request to the upstream server and relay its answer;
* ``"500"``, ``"503"``, ``"429"`` or any other 3-digit code - answer with that status
  without forwarding (``429`` carries ``Retry-After: 0``);
* ``"drop"`` - close the connection with a TCP reset, sending no response at all;
* ``"slow"`` - wait ``slow_delay`` seconds (longer than the client's timeout), then forward;
* ``"truncate"`` - forward, then relay only the first half of the server's body (a 200
  whose JSON is cut off);
* ``"empty"`` - a 200 completion object with no choices, without forwarding;
* ``"nologprobs"`` - forward, then relay the answer without its choices' ``logprobs``
  (a server that ignores the parameter).

``only_posts``: GET requests (the endpoint check, ``/v1/models``) are forwarded without
taking an entry of the schedule, so faults fall on model calls only. ``retry_after``:
the ``Retry-After`` header of an injected 429.

It listens on 127.0.0.1 (port 0), runs its own asyncio loop in a background thread, and is a
context manager. ``counts`` tells how many requests got each action; ``auth_headers`` keeps
the Authorization values it received (to check that a key is sent, never that it leaks).
Connections are one request each (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import socket
import struct
import threading
from collections.abc import Iterable

import httpx

_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding",
        "proxy-connection", "upgrade", "te", "trailer"}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}


class FaultProxy:
    def __init__(self, upstream: str, schedule: Iterable[str] = (), *, slow_delay: float = 3.0,
                 echo_auth: bool = False, only_posts: bool = False, retry_after: str = "0"):
        """``upstream``: e.g. ``http://127.0.0.1:PORT`` (paths are forwarded unchanged).
        ``echo_auth``: injected error bodies quote the Authorization header received, as
        some real servers do with a wrong key (to test redaction)."""
        self.upstream = upstream.rstrip("/")
        self.schedule = collections.deque(schedule)
        self.slow_delay = slow_delay
        self.echo_auth = echo_auth
        self.only_posts = only_posts
        self.retry_after = retry_after
        self.counts: collections.Counter[str] = collections.Counter()
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy",
                                        daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(300.0))
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None and self._client is not None
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    def _next_action(self) -> str:
        with self._lock:
            action = self.schedule.popleft() if self.schedule else "ok"
            self.counts[action] += 1
            return action

    # -- one connection, one request ---------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            method, path, headers, body = request
            auth = headers.get("authorization")
            if auth:
                with self._lock:
                    self.auth_headers.append(auth)
            if self.only_posts and method != "POST":
                await self._forward(writer, method, path, headers, body)
                return
            action = self._next_action()
            if action == "empty":
                empty = {"id": "x", "object": "text_completion", "choices": [],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 0}}
                await self._respond(writer, 200, json.dumps(empty).encode(),
                                    "application/json", {})
                return
            if action in ("truncate", "nologprobs"):
                await self._forward(writer, method, path, headers, body,
                                    truncate=action == "truncate",
                                    nologprobs=action == "nologprobs")
                return
            if action == "drop":
                sock = writer.get_extra_info("socket")
                # linger 0: close() sends RST, the client sees a connection reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if action.isdigit():
                await self._inject(writer, int(action), auth)
                return
            if action == "slow":
                await asyncio.sleep(self.slow_delay)
            elif action != "ok":
                raise ValueError(f"unknown fault action {action!r}")
            await self._forward(writer, method, path, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (e.g. it timed out during "slow")
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return method, path, headers, body

    async def _inject(self, writer: asyncio.StreamWriter, status: int, auth: str | None):
        message = f"injected {status}"
        if self.echo_auth and auth:
            message += f" (received Authorization: {auth})"
        body = json.dumps({"error": {"code": status, "message": message}}).encode()
        extra = {"Retry-After": self.retry_after} if status == 429 else {}
        await self._respond(writer, status, body, "application/json", extra)

    async def _forward(self, writer, method, path, headers, body, truncate=False,
                       nologprobs=False) -> None:
        assert self._client is not None
        fwd = {k: v for k, v in headers.items() if k not in _HOP}
        resp = await self._client.request(method, self.upstream + path, headers=fwd,
                                          content=body)
        content = resp.content[:len(resp.content) // 2] if truncate else resp.content
        if nologprobs and resp.status_code == 200:
            data = json.loads(content)
            for choice in data.get("choices") or []:
                choice.pop("logprobs", None)
            content = json.dumps(data, ensure_ascii=False).encode()
        await self._respond(writer, resp.status_code, content,
                            resp.headers.get("content-type", "application/octet-stream"), {})

    @staticmethod
    async def _respond(writer, status: int, body: bytes, ctype: str, extra: dict) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                 f"Content-Type: {ctype}", f"Content-Length: {len(body)}",
                 "Connection: close"] + [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
