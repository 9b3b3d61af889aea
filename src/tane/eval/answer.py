"""``tane eval answer``: each model answers each item; turn 2 sees turn 1's question and
answer in the conversation.

Chat models get the conversation as messages (an optional system message first); a base
model (``style=completion``) gets it written out as text
(``prompts/eval_answer/{ja,en}_completion.j2``) and stops before the next user turn.
Every call carries a seed made from (seed, model name, item, turn), so two names that
point at the same served model never share a journal entry, and a rerun asks the same.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from ..llm.base import CallStats, Completion, GenParams, LLMError
from ..prompts import load_template
from .bench import Bench, Item
from .engine import Caller, Progress, call_seed, error_text, usage
from .evaldir import ANSWERS, EvalDir, now
from .models import ModelSpec


@dataclass
class AnswerOptions:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int = 0
    system: str | None = None


STOPS = {"ja": ("\n### ユーザー:", "\n### User:"), "en": ("\n### User:",)}


def _params(opts: AnswerOptions, name: str, item: Item, turn: int,
            stop: tuple[str, ...] = ()) -> GenParams:
    return GenParams(temperature=opts.temperature, top_p=opts.top_p,
                     max_tokens=opts.max_tokens, stop=stop,
                     seed=call_seed(opts.seed, name, item.id, turn))


async def answer_item(caller: Caller, item: Item, lang: str, opts: AnswerOptions,
                      stats: CallStats, tpl: Any = None) -> dict[str, Any]:
    """One model's answers to every turn of one item, as an ``answers.jsonl`` row."""
    name = caller.spec.name
    answers: list[str] = []
    finish: str | None = None
    cut = False
    for t, question in enumerate(item.turns):
        if tpl is not None:
            prompt: Any = tpl.render(turns=item.turns[:t + 1], answers=answers,
                                     system=opts.system or "")
            params = _params(opts, name, item, t + 1, STOPS[lang])
        else:
            prompt = [{"role": "system", "content": opts.system}] if opts.system else []
            for q, a in zip(item.turns, answers):
                prompt += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            prompt.append({"role": "user", "content": question})
            params = _params(opts, name, item, t + 1)
        res = await caller.call(prompt, params, stats)
        if isinstance(res, LLMError):
            return {"item_id": item.id, "model": name, "turns": None,
                    "finish_reason": None, "error": f"turn {t + 1}: {error_text(res)}",
                    "chars": 0}
        assert isinstance(res, Completion)
        text = res.text.strip()
        answers.append(text)
        finish = res.finish_reason or None
        cut = cut or res.finish_reason == "length"
    return {"item_id": item.id, "model": name, "turns": answers,
            "finish_reason": "length" if cut else finish, "error": None,
            "chars": sum(len(a) for a in answers)}


async def run_answer(ed: EvalDir, bench: Bench, models: dict[str, ModelSpec],
                     opts: AnswerOptions, progress: bool = True) -> dict[str, Any]:
    """Answers of ``models`` to every item, written to answers.jsonl (their rows only)."""
    items = ed.start(bench)
    started = time.monotonic()
    callers = {n: Caller(m, ed.rd) for n, m in models.items()}
    stats = CallStats()
    try:
        warnings: list[str] = []
        for c in callers.values():
            warnings += await c.check()
        tpls = {n: (load_template("eval_answer", f"{bench.lang}_completion")
                    if m.style == "completion" else None) for n, m in models.items()}
        bar = Progress("answer", len(items) * len(models), enabled=progress)

        async def one(c: Caller, it: Item) -> dict[str, Any]:
            row = await answer_item(c, it, bench.lang, opts, stats, tpls[c.spec.name])
            bar.tick("error" if row["error"] else "ok")
            return row

        rows = await asyncio.gather(*(one(c, it) for c in callers.values() for it in items))
        bar.finish()
        for n, c in callers.items():
            ed.meta["models"][n] = c.info()
    finally:
        for c in callers.values():
            await c.aclose()
    ed.replace_rows(ANSWERS, lambda r: r["model"] in models, rows)
    failed = sum(1 for r in rows if r["error"])
    info = {"status": "complete" if not failed else "incomplete", "finished": now(),
            "models": sorted(models), "rows": len(rows), "ok": len(rows) - failed,
            "error": failed, "length_cut": sum(1 for r in rows if r["finish_reason"] == "length"),
            **usage(list(callers.values()), stats),
            "options": {"temperature": opts.temperature, "top_p": opts.top_p,
                        "max_tokens": opts.max_tokens, "seed": opts.seed,
                        "system": opts.system},
            "seconds": round(time.monotonic() - started, 2), "warnings": warnings}
    ed.step("answer", info)
    return info
