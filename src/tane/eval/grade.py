"""``tane eval grade``: a judge scores each answer, turn by turn, on an absolute scale.

* ``--scale 5``: the ELYZA-tasks-100 way (``prompts/eval_grade/{ja,en}_5.j2``): task,
  reference answer, grading criteria with deductions for unnatural language and false
  statements, over-cautious refusals capped at 2, the item's own ``eval_aspect`` inserted.
* ``--scale 10``: the MT-Bench way (``{ja,en}_10.j2``): a reference answer for maths,
  reasoning and coding questions, turn 2 graded with turn 1 as context.

Each verdict is asked for as JSON, held to a schema where the backend allows, read
strictly, and asked once more (another seed; sampled if the first was greedy) when it
cannot be read. A verdict still unreadable is ``parse_failed`` with no score.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import TaneError
from ..llm.base import CallStats, Completion, GenParams, LLMError
from ..prompts import load_template
from .bench import Item
from .engine import Caller, Progress, call_seed, error_text, usage
from .evaldir import ANSWERS, GRADES, EvalDir, now
from .verdict import VerdictError, parse_score, score_schema
from .weighted import weighted_grade

RAW_KEEP = 2000
REFERENCE_CATEGORIES = frozenset({"math", "reasoning", "coding"})
REFERENCE_MODES = ("auto", "always", "never")


@dataclass
class JudgeOptions:
    max_tokens: int = 512
    temperature: float = 0.0
    retry_temperature: float = 0.7
    seed: int = 0
    reference: str = "auto"  # auto | always | never
    lang: str | None = None  # the prompts' language; default: the benchmark's
    # grades only: ask for the log-probabilities of the N most likely tokens at each
    # position, for the probability-weighted grade (:mod:`.weighted`); 0: not asked
    logprobs: int = 0


def use_reference(item: Item, scale: int, mode: str) -> bool:
    """auto: on the 5-point scale whenever the item has one (ELYZA); on the 10-point
    scale only for maths, reasoning and coding (MT-Bench)."""
    if mode == "never" or not item.reference:
        return False
    if mode == "always" or scale == 5:
        return True
    return (item.category or "").strip().lower() in REFERENCE_CATEGORIES


async def ask_judge(caller: Caller, text: str, schema: dict[str, Any],
                    parse: Callable[[str], Any], opts: JudgeOptions, stats: CallStats,
                    *seed_parts: Any) -> dict[str, Any]:
    """One verdict: asked, read strictly, asked once more if unreadable.
    ``{"status": ok|parse_failed|error, "value", "raw", "retried", "error", "logprobs"}``
    (``logprobs``: the tokens of the last answer, when asked for and given)."""
    messages = [{"role": "user", "content": text}]
    out: dict[str, Any] = {"status": "error", "value": None, "raw": "", "retried": False,
                           "error": None, "logprobs": None}
    for attempt in (0, 1):
        p = GenParams(temperature=opts.temperature, top_p=1.0, max_tokens=opts.max_tokens,
                      seed=call_seed(opts.seed, caller.spec.name, *seed_parts, attempt),
                      logprobs=opts.logprobs)
        if attempt and p.temperature == 0.0:
            p = replace(p, temperature=opts.retry_temperature)
        if caller.constrained:
            p = replace(p, json_schema=schema)
        res = await caller.call(messages, p, stats)
        out["retried"] = attempt > 0
        if isinstance(res, LLMError):  # retried by the retry wrapper already
            out.update(status="error", value=None, error=error_text(res))
            return out
        assert isinstance(res, Completion)
        out["raw"] = res.text[:RAW_KEEP]
        out["logprobs"] = res.logprobs
        try:
            out["value"] = parse(res.text)
        except VerdictError as e:
            cut = " (cut at max_tokens)" if res.finish_reason == "length" else ""
            out.update(status="parse_failed", value=None, error=f"{e}{cut}")
            continue
        out.update(status="ok", error=None)
        return out
    return out


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c = {"rows": len(rows), "ok": 0, "parse_failed": 0, "error": 0,
         "retried": sum(1 for r in rows if r.get("retried"))}
    for r in rows:
        c[r["status"]] = c.get(r["status"], 0) + 1
    return c


def by_judge(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    judges = sorted({r["judge"] for r in rows})
    return {j: counts([r for r in rows if r["judge"] == j]) for j in judges}


async def run_grade(ed: EvalDir, judge: Any, scale: int | None = None,
                    models: list[str] | None = None, opts: JudgeOptions | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Grades of every answer of ``models`` (default: all) by ``judge`` (a ModelSpec)."""
    opts = opts or JudgeOptions()
    fmt = ed.meta.get("format")
    scale = scale or (10 if fmt == "mt_bench" else 5)
    if scale not in (5, 10):
        raise TaneError(f"--scale must be 5 or 10, got {scale}", field="scale")
    if not 0 <= opts.logprobs <= 20:
        raise TaneError(f"--logprobs must be 0 to 20, got {opts.logprobs}", field="logprobs")
    lang = opts.lang or ed.meta.get("lang") or "ja"
    tpl = load_template("eval_grade", f"{lang}_{scale}")
    items = {it.id: it for it in ed.items()}
    answers = [r for r in ed.rows(ANSWERS) if models is None or r["model"] in models]
    if models:
        missing = sorted(set(models) - {r["model"] for r in answers})
        if missing:
            raise TaneError(f"no answers of model {missing[0]!r} in this eval directory",
                            field="models", path=str(ed.path))
    if not answers:
        raise TaneError("no answers to grade: run `tane eval answer` first", path=str(ed.path))
    graded = sorted({r["model"] for r in answers})
    todo = [(r, t) for r in answers if r["turns"] is not None for t in range(len(r["turns"]))]
    skipped = sum(1 for r in answers if r["turns"] is None)
    started = time.monotonic()
    caller = Caller(judge, ed.rd)
    stats = CallStats()
    schema = score_schema(scale, opts.max_tokens)
    # the probability-weighted grade is for the 5-point scale only: not asked for on 10
    ask = opts if scale == 5 else replace(opts, logprobs=0)
    try:
        warnings = await caller.check()
        bar = Progress(f"grade ({judge.name})", len(todo), enabled=progress)

        async def one(row: dict[str, Any], t: int) -> dict[str, Any]:
            item = items[row["item_id"]]
            ref = item.reference[t] if use_reference(item, scale, opts.reference) \
                and item.reference and t < len(item.reference) else ""
            text = tpl.render(question=item.turns[t], answer=row["turns"][t],
                              reference=ref or "", eval_aspect=item.eval_aspect or "",
                              history=[{"q": q, "a": a} for q, a in
                                       zip(item.turns[:t], row["turns"][:t])])
            got = await ask_judge(caller, text, schema, lambda s: parse_score(s, scale),
                                  ask, stats, "grade", scale, item.id, row["model"], t + 1)
            score, reason = got["value"] if got["value"] is not None else (None, None)
            bar.tick(got["status"])
            out = {"item_id": item.id, "model": row["model"], "judge": judge.name,
                   "scale": scale, "turn": t + 1, "score": score, "status": got["status"],
                   "raw": got["raw"], "retried": got["retried"], "error": got["error"],
                   "reason": reason}
            if opts.logprobs:
                out |= weighted_grade(got["logprobs"], score, scale)
            return out

        rows = await asyncio.gather(*(one(r, t) for r, t in todo))
        bar.finish()
        ed.meta.setdefault("judges", {})[judge.name] = caller.info()
    finally:
        await caller.aclose()
    all_rows = ed.replace_rows(
        GRADES, lambda r: r["judge"] == judge.name and r["scale"] == scale
        and r["model"] in graded, rows)
    c = counts(rows)
    info = {"status": "complete" if not c["error"] else "incomplete", "finished": now(),
            "judge": judge.name, "scale": scale, "models": graded, "skipped": skipped,
            **c, **usage([caller], stats), "constrained": caller.constrained,
            "options": {"max_tokens": opts.max_tokens, "temperature": opts.temperature,
                        "seed": opts.seed, "reference": opts.reference, "lang": lang,
                        "template": tpl.id, "logprobs": opts.logprobs},
            "seconds": round(time.monotonic() - started, 2), "warnings": warnings,
            "by_judge": by_judge(all_rows)}
    ed.step("grade", info)
    return info
