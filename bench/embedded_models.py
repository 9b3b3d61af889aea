"""Measure the two embedded models on this machine: tokens/s per slot count, and what
each writes for a Japanese and an English prompt in completion and in chat style.

    python bench/embedded_models.py [--tokens 64]

This is how the embedded backend's choice was made: Gemma 3 270M (base) for completion
prompts, SmolLM2-135M-Instruct for chat (English only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tane.llm.embedded import gemma_path, smollm2_path, start_server  # noqa: E402

JA = "以下は日本語のタスクの一覧です。\n1. 日本の四季について説明してください。\n2. 次の文章を要約してください。\n3."
EN = "Here is a list of tasks.\n1. Explain the four seasons.\n2. Summarize the following text.\n3."
CHAT_JA = [{"role": "user", "content": "日本の首都について一文で説明してください。"}]
CHAT_EN = [{"role": "user", "content": "Explain in one sentence what a capital city is."}]


def throughput(server, prompts: list[str], tokens: int) -> float:
    import concurrent.futures as cf

    def one(i_p):
        i, p = i_p
        r = server.handle_completions({"prompt": p, "max_tokens": tokens, "temperature": 0.8,
                                       "seed": i, "ignore_eos": True})
        return r["usage"]["completion_tokens"]

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(len(prompts)) as ex:
        n = sum(ex.map(one, enumerate(prompts)))
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    args = ap.parse_args()
    models = [("gemma3-270m (base)", gemma_path())]
    try:
        models.append(("smollm2-135m-instruct", smollm2_path()))
    except Exception as e:  # noqa: BLE001 - optional model
        print(f"skipping SmolLM2: {e}")
    for name, path in models:
        for slots in (1, 4, 8):
            server = start_server(path, slots=slots, ctx_per_slot=1024)
            server.handle_completions({"prompt": "warm up", "max_tokens": 4})
            tps = throughput(server, [JA, EN] * (slots // 2 or 1) if slots > 1 else [JA],
                             args.tokens)
            print(f"{name:24s} slots={slots}: {tps:6.1f} tokens/s total")
            if slots == 1:
                for label, p in (("completion ja", JA), ("completion en", EN)):
                    r = server.handle_completions({"prompt": p, "max_tokens": 40, "seed": 1,
                                                   "temperature": 0.0})
                    print(f"  {label}: {r['choices'][0]['text'][:80]!r}")
                for label, m in (("chat ja", CHAT_JA), ("chat en", CHAT_EN)):
                    r = server.handle_chat_completions({"messages": m, "max_tokens": 40,
                                                        "seed": 1, "temperature": 0.0})
                    text = r.get("choices", [{}])[0].get("message", {}).get("content", r)
                    print(f"  {label}: {str(text)[:80]!r}")
            del server


if __name__ == "__main__":
    main()
