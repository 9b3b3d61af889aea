"""bench/simserver.py: the latency model, the stream cap, /stats, and Self-Instruct answers
that tane's own parser and filters accept."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from simserver import SimServer, fifo_makespan, lower_bound  # noqa: E402
from simtext import respond  # noqa: E402

from tane.curate.instruction_filters import check_instruction  # noqa: E402
from tane.curate.rouge import NoveltyIndex  # noqa: E402
from tane.methods.self_instruct import _STOPS, parse_instructions, normalise_en  # noqa: E402
from tane.prompts import load_template  # noqa: E402

TTFT, TPS, STREAMS = 0.1, 100.0, 4
SEEDS = Path(__file__).resolve().parents[1] / "src" / "tane" / "seeds" / "data"


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=STREAMS, ttft=TTFT, tps=TPS, tokens_mean=40) as s:
        yield s


async def _post(client: httpx.AsyncClient, url: str, body: dict) -> tuple[dict, float]:
    t = time.perf_counter()
    r = await client.post(url, json=body)
    r.raise_for_status()
    return r.json(), time.perf_counter() - t


def _batch(sim: SimServer, bodies: list[dict], path: str = "/completions"):
    async def go():
        async with httpx.AsyncClient(timeout=30) as c:
            t = time.perf_counter()
            res = await asyncio.gather(*(_post(c, sim.url + path, b) for b in bodies))
            return res, time.perf_counter() - t
    return asyncio.run(go())


def test_latency_is_ttft_plus_tokens_over_tps(sim):
    sim.reset()
    [(resp, dt)], _ = _batch(sim, [{"model": "m", "messages": [
        {"role": "user", "content": "Say something."}]}], "/chat/completions")
    tokens = resp["usage"]["completion_tokens"]
    assert 20 <= tokens < 60  # spread over [0.5, 1.5) x tokens-mean
    assert resp["choices"][0]["message"]["content"]
    assert resp["choices"][0]["finish_reason"] == "stop"
    expect = TTFT + tokens / TPS
    assert expect - 0.01 <= dt < expect + 0.25
    # the same request costs the same again
    [(again, _)], _ = _batch(sim, [{"model": "other", "temperature": 1.0, "messages": [
        {"role": "user", "content": "Say something."}]}], "/chat/completions")
    assert again["usage"]["completion_tokens"] == tokens


def test_max_tokens_caps_and_reports_length(sim):
    [(resp, _)], _ = _batch(sim, [{"model": "m", "prompt": "Tell a story.", "max_tokens": 3}])
    assert resp["usage"]["completion_tokens"] == 3
    assert resp["choices"][0]["finish_reason"] == "length"


def test_stream_cap_queues_the_extra_request_and_stats(sim):
    # max_tokens 20 < every drawn count: each request holds a stream for 0.1 + 20/100 s
    lat = TTFT + 20 / TPS
    bodies = [{"model": "m", "prompt": f"question {i}", "max_tokens": 20} for i in range(STREAMS)]
    sim.reset()
    _, one_wave = _batch(sim, bodies)
    assert lat - 0.01 <= one_wave < 2 * lat - 0.05
    sim.reset()
    _, two_waves = _batch(sim, bodies + [{"model": "m", "prompt": "one more", "max_tokens": 20}])
    assert two_waves >= 2 * lat - 0.01
    st = sim.stats()
    assert st["requests"] == st["completed"] == STREAMS + 1
    assert st["in_flight"] == 0
    assert st["peak_in_flight"] == STREAMS + 1 and st["peak_serving"] == STREAMS
    assert st["latency_sum_s"] == pytest.approx((STREAMS + 1) * lat)
    assert st["latency_max_s"] == pytest.approx(lat)
    assert st["lower_bound_s"] == pytest.approx(max(lat, (STREAMS + 1) * lat / STREAMS))
    assert lower_bound(st) == pytest.approx(st["lower_bound_s"])
    assert st["fifo_makespan_s"] == pytest.approx(2 * lat)
    assert st["completion_tokens"] == 20 * (STREAMS + 1)
    assert 2 * lat - 0.01 <= st["span_s"] <= two_waves + 0.01
    assert st["busy_s"] == pytest.approx(st["span_s"], abs=0.01)
    # 5 in flight for one wave, then 1: about (5 + 1) / 2 on average
    assert 2.0 < st["avg_in_flight"] < 3.5
    assert st["queue_wait_sum_s"] == pytest.approx(lat, abs=0.1)
    sim.reset()
    st = sim.stats()
    assert st["requests"] == 0 and st["avg_in_flight"] == 0 and st["first_request_s"] is None


def test_fifo_makespan():
    assert fifo_makespan([], 4) == 0.0
    assert fifo_makespan([1.0, 1.0, 1.0], 4) == 1.0
    assert fifo_makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0  # 1+1+1 on one stream, 3 on the other
    assert fifo_makespan([1.0, 1.0, 3.0], 2) == 4.0  # the long one comes last


def test_models_and_unknown_route(sim):
    r = httpx.get(sim.url + "/models")
    assert r.json()["data"][0]["id"] == "sim"
    assert httpx.get(sim.url + "/nothing").status_code == 404
    assert httpx.post(sim.url + "/completions", content=b"{not json").status_code == 400


def _seeds(lang: str) -> list[str]:
    return [json.loads(line)["instruction"] for line in
            (SEEDS / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("style", ["completion", "chat"])
def test_self_instruct_generation_passes_tane_parser_and_filters(sim, lang, style):
    seeds = _seeds(lang)
    name = f"{lang}_generate" + ("_chat" if style == "chat" else "")
    tpl = load_template("self_instruct", name)
    bodies = []
    for i in range(6):
        prompt = tpl.render(instructions=seeds[i:i + 8], last=15)
        body = {"model": "m", "max_tokens": 1024, "temperature": 0.7, "seed": i,
                "stop": list(_STOPS)}
        body |= ({"prompt": prompt} if style == "completion"
                 else {"messages": [{"role": "user", "content": prompt}]})
        bodies.append(body)
    path = "/completions" if style == "completion" else "/chat/completions"
    res, _ = _batch(sim, bodies, path)
    index = NoveltyIndex(lang=lang, threshold=0.7)
    for s in seeds:
        index.add(s, key=s)
    kept = total = 0
    for resp, _ in res:
        choice = resp["choices"][0]
        assert choice["finish_reason"] == "stop"
        text = choice["text"] if style == "completion" else choice["message"]["content"]
        items = parse_instructions(text)
        assert len(items) == 7  # 9. .. 15.
        for inst in items:
            inst = normalise_en(inst) if lang == "en" else inst
            assert check_instruction(inst, lang) is None, inst
            total += 1
            if index.check(inst).keep:
                index.add(inst, key=inst)
                kept += 1
    assert kept >= 0.9 * total
    # deterministic: the same request gives the same list
    again, _ = _batch(sim, bodies[:1], path)
    assert again[0][0]["choices"] == res[0][0]["choices"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_self_instruct_classification_and_instance(lang):
    seeds = [json.loads(line) for line in
             (SEEDS / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    exs = [{"instruction": s["instruction"], "is_classification": s.get("is_classification"),
            "input": s["instances"][0]["input"], "output": s["instances"][0]["output"]}
           for s in seeds[:6]]
    inst = "Plan a quiet bakery for nurses in 3 short steps." if lang == "en" \
        else "看護師向けに、喫茶店の費用を説明してください。"
    clf = load_template("self_instruct", f"{lang}_classify").render(examples=exs, instruction=inst)
    text, tokens, finish = respond(clf, {"max_tokens": 4, "stop": ["\n"]}, 125)
    assert text.strip() == ("No" if lang == "en" else "いいえ") and finish == "stop"
    labels = ("Input:", "Output:") if lang == "en" else ("入力:", "出力:")
    p = load_template("self_instruct", f"{lang}_instance_input_first").render(
        examples=exs[:3], instruction=inst)
    stop = ["\n\nTask:", "\nTask:"] if lang == "en" else ["\n\nタスク:", "\nタスク:"]
    text, tokens, finish = respond(p, {"max_tokens": 300, "stop": stop}, 125)
    assert finish == "stop" and tokens <= 300
    head, sep, out = text.partition("\n" + labels[1])
    assert sep and head.strip() and out.strip()
    p = load_template("self_instruct", f"{lang}_instance_output_first").render(
        examples=exs[:3], instruction=inst)
    text, _, _ = respond(p, {"max_tokens": 300}, 125)
    head, sep, tail = text.partition("\n" + labels[0])
    assert sep and head.strip() and tail.strip()
