"""Throughput of tane's HTTP path versus a plain asyncio + httpx client.

    python bench/throughput.py [--requests 32] [--concurrency 8] [--max-tokens 64]

Starts one local llama.cpp server (Gemma 3 270M, slots = concurrency, 127.0.0.1 only) and
sends the same completion requests (distinct short Japanese and English prompts, fixed
seeds) (a) through ``RetryingBackend(OpenAIBackend(...), concurrency=C)`` and (b) through a
plain httpx client bounded by ``asyncio.Semaphore(C)``. Runs go in ABBA order (tane, plain,
plain, tane) after a warm-up batch that fills every slot, so warm-up and drift weigh on
both sides equally.
Completion tokens may differ slightly between runs: batched decoding with several slots is
not bit-for-bit reproducible, so compare tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402

from tane.llm.base import CallStats, GenParams  # noqa: E402
from tane.llm.embedded import gemma_path, start_server  # noqa: E402
from tane.llm.openai import OpenAIBackend  # noqa: E402
from tane.llm.retry import RetryingBackend  # noqa: E402

JA = ["日本の四季について説明してください。", "おいしいカレーの作り方は", "東京から大阪への行き方は",
      "猫を飼うときに気をつけることは", "俳句とは何か簡単に言うと", "朝ごはんにおすすめの料理は",
      "富士山の高さは", "良い睡眠のためのコツは", "日本語を勉強する方法は", "雨の日の過ごし方は",
      "電車の中でのマナーとして", "桜が咲く季節になると", "健康的な食事とは", "京都の有名な寺は",
      "夏休みの宿題で", "プログラミングを始めるには"]
EN = ["The capital of France is", "A good way to learn Python is", "Three tips for better sleep:",
      "Once upon a time, in a small village,", "The main causes of rain are",
      "To bake bread at home, first", "The best thing about autumn is", "Photosynthesis is",
      "A short poem about the sea:", "When writing an email to a colleague,",
      "The history of the bicycle begins", "Healthy breakfast ideas include",
      "The rules of chess say that", "Why is the sky blue? Because",
      "A list of famous painters:", "To stay focused while studying,"]


def prompts(n: int) -> list[str]:
    base = [p for pair in zip(JA, EN) for p in pair]
    return [base[i % len(base)] + ("" if i < len(base) else f" ({i // len(base)})")
            for i in range(n)]


async def run_tane(base: str, ps: list[str], conc: int, max_tokens: int) -> int:
    stats = CallStats()
    rb = RetryingBackend(OpenAIBackend(base, "gemma"), stats, concurrency=conc)
    try:
        await asyncio.gather(*(rb.complete(p, GenParams(max_tokens=max_tokens, seed=i))
                               for i, p in enumerate(ps)))
    finally:
        await rb.aclose()
    return stats.completion_tokens


async def run_plain(base: str, ps: list[str], conc: int, max_tokens: int) -> int:
    sem = asyncio.Semaphore(conc)
    async with httpx.AsyncClient(timeout=120) as client:
        async def one(i: int, p: str) -> int:
            body = {"model": "gemma", "prompt": p, "max_tokens": max_tokens,
                    "temperature": 0.7, "top_p": 0.95, "seed": i}
            async with sem:
                r = await client.post(f"{base}/completions", json=body)
            r.raise_for_status()
            return int(r.json()["usage"]["completion_tokens"])

        return sum(await asyncio.gather(*(one(i, p) for i, p in enumerate(ps))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    a = ap.parse_args()

    server = start_server(gemma_path(), slots=a.concurrency, ctx_per_slot=max(512, a.max_tokens + 128))
    base = server.listening_address + "/v1"
    ps = prompts(a.requests)
    print(f"server {base}: Gemma 3 270M Q4_K_M, {a.concurrency} slots; "
          f"{a.requests} requests, concurrency {a.concurrency}, max_tokens {a.max_tokens}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work skews it)")
    asyncio.run(run_plain(base, prompts(a.concurrency), a.concurrency, 16))  # warm-up: all slots

    totals = {"tane": [0, 0.0], "plain": [0, 0.0]}
    runners = {"tane": run_tane, "plain": run_plain}
    for name in ("tane", "plain", "plain", "tane"):
        t0 = time.perf_counter()
        tokens = asyncio.run(runners[name](base, ps, a.concurrency, a.max_tokens))
        dt = time.perf_counter() - t0
        totals[name][0] += tokens
        totals[name][1] += dt
        print(f"  {name:5s}: {tokens:6d} completion tokens in {dt:6.2f}s = {tokens / dt:7.1f} tok/s")
    rate = {k: t / s for k, (t, s) in totals.items()}
    for k, (t, s) in totals.items():
        print(f"{k:5s} total: {t:6d} completion tokens in {s:6.2f}s = {rate[k]:7.1f} tok/s")
    print(f"ratio tane/plain (tok/s): {rate['tane'] / rate['plain']:.3f}; "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
