"""How many llama.cpp threads the embedded model should decode with, measured here.

    python bench/threads.py [--rounds 4] [--tokens 64] [--threads 1,2]

Two servers of the embedded Gemma 3 270M model are loaded side by side, one per thread
count, and single requests (one slot, one stream) go to them interleaved, so both see the
same background load. Two conditions: the machine as it is ("as is": idle when nothing
else runs), and with one extra process keeping a core busy ("+busy"). Printed: each thread count's decode tokens/s
(median, min, max over the rounds), the load average and the CPUs this process may use,
what tane's automatic choice would pick (``tane.llm.embedded.auto_threads``: the CPUs
that other processes leave free, sampled from /proc/stat just before each condition is
measured) and which thread count measured fastest.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tane.llm.embedded import (BUSY_SAMPLE_S, gemma_path, others_busy_cpus,  # noqa: E402
                                start_server, threads_for, usable_cpus)

PROMPT = ("以下は日本語のタスクの一覧です。\n1. 日本の四季について説明してください。\n"
          "2. 次の文章を要約してください。\n3.")


def _spin(stop) -> None:  # pragma: no cover - runs in a child process
    while not stop.is_set():
        for _ in range(100_000):
            pass


def decode_tps(server, tokens: int, seed: int) -> float:
    t = time.perf_counter()
    r = server.handle_completions({"prompt": PROMPT, "max_tokens": tokens, "temperature": 0.8,
                                   "seed": seed, "ignore_eos": True, "cache_prompt": False})
    dt = time.perf_counter() - t
    timings = r.get("timings") or {}
    if timings.get("predicted_per_second"):
        return float(timings["predicted_per_second"])
    return r["usage"]["completion_tokens"] / dt


def measure(servers: dict[int, object], rounds: int, tokens: int) -> dict[int, list[float]]:
    got: dict[int, list[float]] = {t: [] for t in servers}
    for r in range(rounds):
        order = list(servers) if r % 2 == 0 else list(reversed(servers))
        for t in order:
            got[t].append(decode_tps(servers[t], tokens, r))
    return got


def choice() -> tuple[int, float]:
    """What auto_threads() would decide now (it caches its answer, so ask its parts)."""
    cpus = usable_cpus()
    busy = others_busy_cpus(cpus, BUSY_SAMPLE_S)
    return threads_for(len(cpus), busy), busy


def report(label: str, chosen: tuple[int, float], got: dict[int, list[float]]) -> None:
    load = os.getloadavg()[0]
    med = {t: statistics.median(v) for t, v in got.items()}
    best = max(med, key=med.get)
    parts = [f"{t} thread(s): {med[t]:6.1f} tok/s (min {min(v):.1f}, "
             f"max {max(v):.1f})" for t, v in got.items()]
    n, busy = chosen
    verdict = "the best" if n == best else f"best is {best}: {med[best] / med.get(n, med[best]):.2f}x"
    print(f"{label:6s} load {load:4.2f}, others busy {busy:4.2f} CPUs, auto_threads() would "
          f"pick {n} ({verdict}): " + "; ".join(parts), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPUs usable: {cpus}; {a.rounds} interleaved single requests of {a.tokens} tokens "
          "per thread count and condition", flush=True)
    path = gemma_path()
    servers = {}
    for t in (int(x) for x in a.threads.split(",")):
        servers[t] = start_server(path, slots=1, ctx_per_slot=512, threads=t)
        servers[t].handle_completions({"prompt": "warm up", "max_tokens": 4})
    report("as is", choice(), measure(servers, a.rounds, a.tokens))
    stop = mp.Event()
    spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    try:
        time.sleep(1.0)
        report("+busy", choice(), measure(servers, a.rounds, a.tokens))
    finally:
        stop.set()
        spinner.join(5)


if __name__ == "__main__":
    main()
