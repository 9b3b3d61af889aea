"""A simulated OpenAI-compatible server: N parallel streams, a fixed speed, no model.

    python bench/simserver.py --port P --streams N --ttft 0.15 --tps 30 \
        [--tokens-mean 125] [--host 127.0.0.1]

It prints ``listening on http://HOST:PORT/v1`` (the real port, also with ``--port 0``)
and serves until killed.

Latency model: a request holds one of ``--streams`` slots (an asyncio semaphore; further
requests queue) for ``ttft + completion_tokens / tps`` seconds, then gets its whole
answer. ``completion_tokens`` is a function of the prompt text (or the messages' roles and
contents) alone: a hash spread uniformly over [0.5, 1.5) x ``--tokens-mean``, capped by
``max_tokens`` (then ``finish_reason`` is ``"length"`` and the text is cut to match).
So the same request costs the same on every client, and a run's lower bound can be taken
from the server's own figures (``GET /stats``).

Content (``bench/simtext.py``), deterministic for a given request (seeded by a hash of the
prompt and the request's ``seed``):
- tane's Self-Instruct prompts (``src/tane/prompts/self_instruct``, ``en`` and ``ja``,
  completion and chat): a continuation of the numbered task list with random, novel
  instructions that pass ``check_instruction``; ``No`` / ``いいえ`` to the classification
  prompt; an instance in the ``Input:``/``Output:`` (``入力:``/``出力:``) shape.
- anything else: filler text of the right length (Japanese when the prompt has kana).

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions`` (``stream: true``
gets the whole answer as one server-sent event after the same delay), ``GET /v1/models``,
``GET /stats``, ``POST /reset``. Standard library only (uvloop is used when installed);
HTTP/1.1 keep-alive on a bare ``asyncio.Protocol`` so that the server's own CPU cost per
request stays small beside the client under test on the same cores.

``GET /stats`` (since start or the last ``POST /reset``): ``requests``, ``completed``,
``in_flight`` now, ``peak_in_flight`` and ``avg_in_flight`` (requests received and not yet
answered, time-averaged over ``span_s``: first request to last answer, or to now while
some are open), ``peak_serving``/``avg_serving`` (holding a stream), ``busy_s`` (time
with at least one request open), ``latency_sum_s``/``latency_max_s`` (modelled service
times), ``queue_wait_sum_s`` (waiting for a stream), ``completion_tokens``,
``server_cpu_s``, ``lower_bound_s`` = max(``latency_max_s``, ``latency_sum_s`` /
streams): no client can get those requests served faster; and ``fifo_makespan_s``: the
same requests, all sent at once in their order of arrival, each taking the next free
stream (what a client that never lets a stream idle gets; above the bound when the last
wave is ragged).

Importable: ``SimServer.start(...)`` runs it in a subprocess and gives its URL, stats and
reset; ``lower_bound(stats, streams)`` is the time the streams need for the requests seen.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simtext import prompt_of, respond  # noqa: E402

# --------------------------------------------------------------------------- server


class Sim:
    def __init__(self, streams: int, ttft: float, tps: float, tokens_mean: int):
        self.streams, self.ttft, self.tps, self.tokens_mean = streams, ttft, tps, tokens_mean
        self.sem = asyncio.Semaphore(streams)
        self.seq = 0
        self.reset()

    def reset(self) -> None:
        now = time.monotonic()
        self.t0 = now
        self.cpu0 = time.process_time()
        self.requests = self.completed = 0
        self.in_flight = self.serving = 0
        self.peak = self.peak_serving = 0
        self.area = self.serving_area = self.busy = 0.0
        self.t_mark = now
        self.first = self.last = None
        self.latency_sum = self.latency_max = self.wait_sum = 0.0
        self.completion_tokens = self.prompt_chars = 0
        self.latencies: list[float] = []  # in order of arrival

    def _tick(self) -> None:
        now = time.monotonic()
        dt = now - self.t_mark
        if self.in_flight:
            self.area += self.in_flight * dt
            self.busy += dt
        self.serving_area += self.serving * dt
        self.t_mark = now

    def stats(self) -> dict[str, Any]:
        self._tick()
        now = time.monotonic()
        span = ((self.last if self.in_flight == 0 and self.last else now) - self.first) \
            if self.first is not None else 0.0
        return {
            "streams": self.streams, "ttft": self.ttft, "tps": self.tps,
            "tokens_mean": self.tokens_mean,
            "requests": self.requests, "completed": self.completed,
            "in_flight": self.in_flight, "peak_in_flight": self.peak,
            "avg_in_flight": self.area / span if span > 0 else 0.0,
            "avg_serving": self.serving_area / span if span > 0 else 0.0,
            "peak_serving": self.peak_serving,
            "first_request_s": None if self.first is None else self.first - self.t0,
            "last_response_s": None if self.last is None else self.last - self.t0,
            "span_s": span, "busy_s": self.busy,
            "latency_sum_s": self.latency_sum, "latency_max_s": self.latency_max,
            "queue_wait_sum_s": self.wait_sum,
            "completion_tokens": self.completion_tokens, "prompt_chars": self.prompt_chars,
            "server_cpu_s": time.process_time() - self.cpu0,
            "lower_bound_s": lower_bound_of(self.latency_sum, self.latency_max, self.streams),
            "fifo_makespan_s": fifo_makespan(self.latencies, self.streams),
        }

    async def complete(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        prompt = prompt_of(body, chat)
        text, tokens, finish = respond(prompt, body, self.tokens_mean)
        latency = self.ttft + tokens / self.tps
        self.latencies.append(latency)
        t_in = time.monotonic()
        async with self.sem:
            self._tick()
            self.serving += 1
            self.peak_serving = max(self.peak_serving, self.serving)
            self.wait_sum += time.monotonic() - t_in
            try:
                await asyncio.sleep(latency)
            finally:
                self._tick()
                self.serving -= 1
        self.latency_sum += latency
        self.latency_max = max(self.latency_max, latency)
        self.completion_tokens += tokens
        self.prompt_chars += len(prompt)
        self.seq += 1
        ptok = max(1, len(prompt) // 3)
        usage = {"prompt_tokens": ptok, "completion_tokens": tokens,
                 "total_tokens": ptok + tokens}
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {"id": f"sim-{self.seq}", "object": "chat.completion" if chat
                else "text_completion", "created": int(time.time()),
                "model": body.get("model") or "sim", "choices": [choice], "usage": usage}

    # request bookkeeping around complete()
    def begin(self) -> None:
        self._tick()
        now = self.t_mark
        if self.first is None:
            self.first = now
        self.requests += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def end(self) -> None:
        self._tick()
        self.in_flight -= 1
        self.completed += 1
        self.last = self.t_mark


def lower_bound_of(latency_sum: float, latency_max: float, streams: int) -> float:
    return max(latency_max, latency_sum / max(streams, 1))


def fifo_makespan(latencies: list[float], streams: int) -> float:
    """When the last request would end if all had arrived at once, in this order, each
    taking the next free stream: what a client that keeps every stream busy achieves."""
    free = [0.0] * min(max(streams, 1), max(len(latencies), 1))
    for lat in latencies:
        heapq.heapreplace(free, free[0] + lat)
    return max(free) if latencies else 0.0


def lower_bound(stats: dict[str, Any], streams: int | None = None) -> float:
    """The least time ``streams`` parallel slots need to serve the requests counted in
    ``stats`` (each its own latency): max(longest latency, total latency / streams)."""
    return lower_bound_of(stats["latency_sum_s"], stats["latency_max_s"],
                          streams or stats["streams"])


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


class Conn(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, Content-Length or chunked request bodies, one request at a
    time per connection (pipelined requests wait in order)."""

    def __init__(self, sim: Sim):
        self.sim = sim
        self.buf = bytearray()
        self.pending: deque[tuple[str, str, bytes, bool]] = deque()
        self.task: asyncio.Task | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            req = self._parse()
            if req is None:
                break
            self.pending.append(req)
        if self.pending and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._serve())

    def _parse(self) -> tuple[str, str, bytes, bool] | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = head[0].split(" ", 2)
        except ValueError:
            method, target, version = "BAD", "/", "HTTP/1.1"
        length, chunked, close = 0, False, version == "HTTP/1.0"
        for line in head[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v.strip() or 0)
            elif k == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
            elif k == "connection":
                close = v.strip().lower() == "close"
        start = end + 4
        if chunked:
            body = bytearray()
            pos = start
            while True:
                nl = self.buf.find(b"\r\n", pos)
                if nl < 0:
                    return None
                size = int(bytes(self.buf[pos:nl]).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    fin = self.buf.find(b"\r\n\r\n", nl)  # trailers, if any
                    if fin < 0:
                        if len(self.buf) >= nl + 4 and self.buf[nl:nl + 4] == b"\r\n\r\n":
                            fin = nl
                        else:
                            return None
                    del self.buf[:fin + 4]
                    return method, target, bytes(body), close
                if len(self.buf) < nl + 2 + size + 2:
                    return None
                body += self.buf[nl + 2:nl + 2 + size]
                pos = nl + 2 + size + 2
        if len(self.buf) < start + length:
            return None
        body = bytes(self.buf[start:start + length])
        del self.buf[:start + length]
        return method, target, body, close

    async def _serve(self) -> None:
        try:
            while self.pending and self.transport is not None:
                method, target, body, close = self.pending.popleft()
                try:
                    status, payload, ctype = await self._handle(method, target, body)
                except Exception as e:  # a bug here must not hang the client
                    status, payload, ctype = _err(500, f"{type(e).__name__}: {e}")
                if self.transport is None:
                    return
                head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
                        f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
                self.transport.write(head.encode("latin-1") + payload)
                if close:
                    self.transport.close()
                    return
        finally:
            self.task = None
            if self.pending and self.transport is not None:
                self.task = asyncio.get_running_loop().create_task(self._serve())

    async def _handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes, str]:
        path = target.split("?", 1)[0].rstrip("/")
        sim = self.sim
        if path in ("/v1/chat/completions", "/v1/completions", "/chat/completions",
                    "/completions"):
            if method != "POST":
                return _err(405, "use POST")
            try:
                req = json.loads(body)
                if not isinstance(req, dict):
                    raise ValueError("body is not a JSON object")
            except ValueError as e:
                return _err(400, f"bad JSON: {e}")
            chat = path.endswith("chat/completions")
            sim.begin()
            try:
                resp = await sim.complete(req, chat)
            finally:
                sim.end()
            if req.get("stream"):
                return 200, _sse(resp, chat), "text/event-stream"
            return 200, json.dumps(resp, ensure_ascii=False).encode(), "application/json"
        if path in ("/v1/models", "/models") and method == "GET":
            return _json({"object": "list", "data": [
                {"id": "sim", "object": "model", "created": 0, "owned_by": "tane-bench"}]})
        if path == "/stats" and method == "GET":
            return _json(sim.stats())
        if path == "/reset" and method == "POST":
            sim.reset()
            return _json({"ok": True})
        if path in ("/health", "/v1/health"):
            return _json({"status": "ok"})
        return _err(404, f"no route {method} {path}")


def _json(obj: Any) -> tuple[int, bytes, str]:
    return 200, json.dumps(obj).encode(), "application/json"


def _err(code: int, msg: str) -> tuple[int, bytes, str]:
    return code, json.dumps({"error": {"message": msg, "type": "invalid_request_error",
                                       "code": code}}).encode(), "application/json"


def _sse(resp: dict[str, Any], chat: bool) -> bytes:
    """The whole answer as one delta chunk, then the finish chunk with usage, then DONE."""
    c = resp["choices"][0]
    base = {k: resp[k] for k in ("id", "created", "model")}
    obj = "chat.completion.chunk" if chat else "text_completion"
    if chat:
        first = {"index": 0, "delta": {"role": "assistant", "content": c["message"]["content"]},
                 "finish_reason": None}
        last = {"index": 0, "delta": {}, "finish_reason": c["finish_reason"]}
    else:
        first = {"index": 0, "text": c["text"], "finish_reason": None}
        last = {"index": 0, "text": "", "finish_reason": c["finish_reason"]}
    events = [base | {"object": obj, "choices": [first]},
              base | {"object": obj, "choices": [last], "usage": resp["usage"]}]
    return b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n"
                    for e in events) + b"data: [DONE]\n\n"


async def serve(host: str, port: int, streams: int, ttft: float, tps: float,
                tokens_mean: int) -> None:
    sim = Sim(streams, ttft, tps, tokens_mean)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(sim), host, port, backlog=4096,
                                      reuse_address=True)
    real = server.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{real}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--streams", type=int, default=512)
    ap.add_argument("--ttft", type=float, default=0.15)
    ap.add_argument("--tps", type=float, default=30.0)
    ap.add_argument("--tokens-mean", type=int, default=125)
    ap.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                    help="event loop; auto uses uvloop when it is installed")
    a = ap.parse_args(argv)
    runner: Any = asyncio.run
    if a.loop != "asyncio":
        try:
            import uvloop  # type: ignore[import-not-found]
            runner = uvloop.run
        except ImportError:
            if a.loop == "uvloop":
                ap.error("uvloop is not installed")
    try:
        runner(serve(a.host, a.port, a.streams, a.ttft, a.tps, a.tokens_mean))
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------- launcher


class SimServer:
    """A simulated server in a subprocess: ``with SimServer.start(streams=8) as s: s.url``."""

    def __init__(self, proc: subprocess.Popen, url: str, streams: int):
        self.proc, self.url, self.streams = proc, url, streams
        self.root = url[:-len("/v1")]

    @classmethod
    def start(cls, streams: int = 512, ttft: float = 0.15, tps: float = 30.0,
              tokens_mean: int = 125, port: int = 0, host: str = "127.0.0.1",
              python: str | None = None, loop: str = "auto",
              timeout: float = 20.0) -> "SimServer":
        cmd = [python or sys.executable, str(Path(__file__).resolve()), "--port", str(port),
               "--host", host, "--streams", str(streams), "--ttft", str(ttft), "--tps",
               str(tps), "--tokens-mean", str(tokens_mean), "--loop", loop]
        err = tempfile.TemporaryFile()  # not a pipe: a chatty server must never block on it
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        line = proc.stdout.readline() if sel.select(timeout) else ""
        sel.close()
        if not line.startswith("listening on "):
            proc.kill()
            proc.wait()
            err.seek(0)
            raise RuntimeError(f"simulated server did not start: {line!r} "
                               f"{err.read().decode(errors='replace')[-500:]}")
        return cls(proc, line.split("listening on ", 1)[1].strip(), streams)

    def _call(self, method: str, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.root + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "SimServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def start(**kw: Any) -> str:
    """Start a simulated server in a subprocess and return its ``/v1`` URL (it is stopped
    when this process exits; use :class:`SimServer` to stop it earlier)."""
    import atexit
    s = SimServer.start(**kw)
    atexit.register(s.close)
    return s.url


if __name__ == "__main__":
    main()
