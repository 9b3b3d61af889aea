"""The Python half of bench/gpu_smoke.sh (run that, not this).

    python bench/gpu_smoke.py prompts OUT_DIR [--n 1000]
    python bench/gpu_smoke.py throughput OUT_DIR --model M [--output-len 256]
    python bench/gpu_smoke.py judge OUT_DIR --model M [--n 64]
    python bench/gpu_smoke.py compare OUT_DIR

prompts: N completion prompts (the bundled ja and en seed instructions, each as a short
  instruction/response frame) in two forms: prompts.jsonl for tane and prompts.json in
  ShareGPT form for ``vllm bench throughput --dataset-name sharegpt``.
throughput: tane's vLLM backend on the same prompts, with vLLM's own benchmark's
  sampling (temperature 1, top_p 1, ignore_eos, the same output length), every call
  awaited at once through the backend's batching; writes tane.json with vLLM's field
  names (elapsed_time, num_requests, total_num_tokens, requests_per_second,
  tokens_per_second). The engine load is not timed, as in vLLM's benchmark.
judge: the judge's chat rubric (src/tane/prompts/judge) on N answered instructions,
  with the verdict JSON schema as structured output: verdicts parsed, time.
compare: the ratio tane / vLLM of requests per second (target >= 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

FRAME = {"ja": "### 指示:\n{}\n\n### 応答:\n", "en": "### Instruction:\n{}\n\n### Response:\n"}


def _seed_rows(lang: str) -> list[dict]:
    path = HERE.parent / "src" / "tane" / "seeds" / "data" / f"{lang}.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def cmd_prompts(out: Path, n: int) -> None:
    rows = [(lang, r) for lang in ("ja", "en") for r in _seed_rows(lang)]
    prompts = []
    for i in range(n):
        lang, r = rows[i % len(rows)]
        inst = r["instruction"]
        inp = next((x.get("input") for x in r.get("instances", []) if x.get("input")), "")
        text = inst + (f"\n{inp}" if inp else "")
        # a per-prompt tag keeps prompts distinct, so prefix caching cannot skip whole
        # prompts in either run
        prompts.append(FRAME[lang].format(f"[{i}] {text}"))
    with open(out / "prompts.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in prompts)
    share = [{"id": str(i), "conversations": [{"from": "human", "value": p},
                                               {"from": "gpt", "value": "placeholder answer "
                                                                        "of a few tokens"}]}
             for i, p in enumerate(prompts)]
    (out / "prompts.json").write_text(json.dumps(share, ensure_ascii=False), encoding="utf-8")
    print(f"{len(prompts)} prompts in {out}")


def cmd_throughput(out: Path, model: str, output_len: int, max_model_len: int) -> None:
    from tane.llm.base import GenParams
    from tane.llm.vllm import VLLMBackend

    prompts = [json.loads(x)["prompt"] for x in
               (out / "prompts.jsonl").read_text(encoding="utf-8").splitlines()]
    b = VLLMBackend(model, engine_args={"max_model_len": max_model_len}, ignore_eos=True,
                    max_batch=len(prompts))

    async def go():
        t0 = time.perf_counter()
        await b.check()
        load = time.perf_counter() - t0
        p = GenParams(temperature=1.0, top_p=1.0, max_tokens=output_len, seed=None)
        t0 = time.perf_counter()
        res = await asyncio.gather(*[b.complete(x, replace(p, seed=i))
                                     for i, x in enumerate(prompts)], return_exceptions=True)
        elapsed = time.perf_counter() - t0
        await b.aclose()
        return load, elapsed, res

    load, elapsed, res = asyncio.run(go())
    ok = [r for r in res if not isinstance(r, BaseException)]
    toks = sum(r.prompt_tokens + r.completion_tokens for r in ok)
    out_toks = sum(r.completion_tokens for r in ok)
    rep = {"elapsed_time": elapsed, "num_requests": len(ok), "failed": len(res) - len(ok),
           "total_num_tokens": toks, "output_tokens": out_toks,
           "requests_per_second": len(ok) / elapsed, "tokens_per_second": toks / elapsed,
           "engine_batches": b.batches, "load_seconds": load}
    (out / "tane.json").write_text(json.dumps(rep, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"tane vllm backend: {len(ok)} requests ({len(res) - len(ok)} failed) in "
          f"{elapsed:.2f} s: {rep['requests_per_second']:.2f} req/s, "
          f"{rep['tokens_per_second']:.0f} tokens/s ({out_toks} output tokens); engine "
          f"batches {b.batches[:5]}{'...' if len(b.batches) > 5 else ''}; load {load:.0f} s")


def cmd_judge(out: Path, model: str, n: int, max_model_len: int) -> None:
    from jinja2 import Template

    from tane.llm.base import GenParams
    from tane.llm.vllm import VLLMBackend
    from tane.methods.judge import parse_verdict, verdict_schema

    tpl = {lang: Template((HERE.parent / "src" / "tane" / "prompts" / "judge" /
                           f"{lang}_chat.j2").read_text(encoding="utf-8"))
           for lang in ("ja", "en")}
    rows = [(lang, r) for lang in ("ja", "en") for r in _seed_rows(lang)]
    items = []
    for i in range(n):
        lang, r = rows[i % len(rows)]
        inst = r["instances"][0] if r.get("instances") else {}
        text = tpl[lang].render(instruction=r["instruction"], input=inst.get("input", ""),
                                output=inst.get("output", ""))
        items.append([{"role": "user", "content": text}])
    b = VLLMBackend(model, engine_args={"max_model_len": max_model_len})
    schema = verdict_schema(120)

    async def go(constrained: bool):
        t0 = time.perf_counter()
        res = await asyncio.gather(*[b.chat(m, GenParams(
            temperature=0.0, max_tokens=256, seed=i,
            json_schema=schema if constrained else None)) for i, m in enumerate(items)],
            return_exceptions=True)
        return time.perf_counter() - t0, res

    async def both():
        await b.check()
        r1 = await go(True)
        r0 = await go(False)
        await b.aclose()
        return r1, r0

    (t1, with_schema), (t0, without) = asyncio.run(both())

    def parses(text: str) -> bool:
        try:
            parse_verdict(text)
        except Exception:  # noqa: BLE001 - counted as unparseable
            return False
        return True

    def parsed(res) -> int:
        return sum(1 for r in res if not isinstance(r, BaseException) and parses(r.text))

    p1, p0 = parsed(with_schema), parsed(without)
    rep = {"n": n, "schema": {"parsed": p1, "seconds": t1},
           "no_schema": {"parsed": p0, "seconds": t0}}
    (out / "judge.json").write_text(json.dumps(rep, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"judge ({model}): verdicts parsed with the JSON schema {p1}/{n} in {t1:.1f} s; "
          f"without it {p0}/{n} in {t0:.1f} s")


def cmd_compare(out: Path) -> int:
    tane = json.loads((out / "tane.json").read_text(encoding="utf-8"))
    vllm = json.loads((out / "vllm.json").read_text(encoding="utf-8"))
    ratio = tane["requests_per_second"] / vllm["requests_per_second"]
    print(f"vllm bench throughput: {vllm['requests_per_second']:.2f} req/s, "
          f"{vllm['tokens_per_second']:.0f} tokens/s ({vllm['num_requests']} requests, "
          f"{vllm['elapsed_time']:.2f} s)")
    print(f"tane backend:          {tane['requests_per_second']:.2f} req/s, "
          f"{tane['tokens_per_second']:.0f} tokens/s ({tane['num_requests']} requests, "
          f"{tane['elapsed_time']:.2f} s)")
    verdict = "PASS" if ratio >= 0.9 else "BELOW TARGET"
    print(f"ratio tane / vLLM (requests per second): {ratio:.3f}  (target >= 0.9: {verdict})")
    return 0 if ratio >= 0.9 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", choices=["prompts", "throughput", "judge", "compare"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", default=os.environ.get("MODEL", "Qwen/Qwen2.5-0.5B-Instruct"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--output-len", type=int, default=256)
    ap.add_argument("--max-model-len", type=int, default=2048)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cmd == "prompts":
        cmd_prompts(a.out, a.n)
    elif a.cmd == "throughput":
        cmd_throughput(a.out, a.model, a.output_len, a.max_model_len)
    elif a.cmd == "judge":
        cmd_judge(a.out, a.model, a.n, a.max_model_len)
    else:
        return cmd_compare(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
