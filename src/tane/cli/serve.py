"""``tane serve``: the embedded model over HTTP (llama.cpp's OpenAI-compatible server)."""

from __future__ import annotations

import signal
import threading
from typing import Optional

import typer

from ..errors import TaneError
from .common import app, err, error_exit, out

# the models tane ships, by the name --model takes: (the id the server lists, what it is)
MODELS = {
    "gemma3-270m": ("google/gemma-3-270m", "Gemma 3 270M base: Japanese completions"),
    "smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2 135M: English chat"),
}


@app.command()
def serve(model: str = typer.Option("gemma3-270m", help="which embedded model: gemma3-270m "
                                                         "(base, Japanese completions) or "
                                                         "smollm2-135m (English chat)"),
          host: str = typer.Option("127.0.0.1", help="address to listen on (default: this "
                                                     "machine only)"),
          port: int = typer.Option(8080, help="port (0: a free one; the line printed at "
                                              "start says which)"),
          slots: int = typer.Option(4, help="requests decoded at once (default: 4)"),
          ctx: int = typer.Option(2048, "--ctx", help="context tokens per slot"),
          threads: Optional[int] = typer.Option(None, help="llama.cpp decode threads "
                                                           "(default: the CPUs free of other "
                                                           "load, 1-8)")) -> None:
    """Serve an embedded model over HTTP until Ctrl-C: an OpenAI-compatible server
    (/v1/completions, /v1/chat/completions, /v1/models) for tane run --llm URL, tane eval
    or any other client."""
    try:
        if model not in MODELS:
            raise TaneError(f"unknown model {model!r} (the embedded ones: "
                            f"{', '.join(MODELS)})", field="model")
        for name, value, least in (("--slots", slots, 1), ("--ctx", ctx, 256),
                                   ("--threads", threads, 1)):
            if value is not None and value < least:
                raise TaneError(f"{name} must be at least {least}, got {value}",
                                field=name.lstrip("-"))
        if not 0 <= port <= 65535:
            raise TaneError(f"--port must be between 0 and 65535, got {port}", field="port")
        from ..llm.embedded import gemma_path, smollm2_path, start_server

        path = gemma_path() if model == "gemma3-270m" else smollm2_path()
        served, what = MODELS[model]
        server = start_server(path, slots=slots, ctx_per_slot=ctx, threads=threads,
                              host=host, port=port, alias=served)
    except TaneError as e:
        error_exit(e)
        return
    url = f"{server.listening_address}/v1"
    out.print(f"serving {served} ({what}; {slots} slot(s)) at {url}; use it with: "
              f"tane run RECIPE --llm {url},model={served}", highlight=False,
              soft_wrap=True)
    out.file.flush()
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print("[yellow]warning:[/] listening beyond this machine with no key and plain "
                  "HTTP: anyone who reaches the port can use the model", highlight=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    err.print("stopped", highlight=False)
    del server
