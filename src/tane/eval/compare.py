"""``tane eval compare``: a judge compares two models' answers, in both orders.

Each item is judged with A's answer shown first, then with B's shown first. The verdicts
are recorded in the models' terms (``ab``: a shown first; ``ba``: b shown first; each
``"a"``, ``"b"`` or ``"tie"``). The final verdict follows MT-Bench: the same winner in
both orders wins; a verdict that changes with the order is a tie, and the row says
``consistent: false``. With ``levels=5`` the judge answers A>>B .. B>>A and the levels
(+2 a much better .. -2 b much better) are kept too.

``b="baseline"`` compares against the baseline outputs of an AlpacaEval-style benchmark;
the rows then name the baseline's model (its ``generator``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..errors import TaneError
from ..llm.base import CallStats
from ..prompts import load_template
from .bench import Item
from .engine import Caller, Progress, usage
from .evaldir import ANSWERS, COMPARISONS, EvalDir, now
from .grade import JudgeOptions, ask_judge, by_judge, counts, use_reference
from .verdict import parse_verdict, verdict_schema

BASELINE = "baseline"


def _winner(level: int | None) -> str | None:
    if level is None:
        return None
    return "a" if level > 0 else "b" if level < 0 else "tie"


def combine(ab_level: int | None, ba_level: int | None) -> dict[str, Any]:
    """Both orders' levels (in the models' terms: + means a is better) -> the row's
    verdict fields."""
    ab, ba = _winner(ab_level), _winner(ba_level)
    if ab is None or ba is None:
        final, consistent = None, None
    else:
        consistent = ab == ba
        final = ab if consistent else "tie"
    return {"ab": ab, "ba": ba, "final": final, "consistent": consistent}


def _pairs(ed: EvalDir, a: str, b: str) -> tuple[list[tuple[Item, list[str], list[str], str]],
                                                  int]:
    items = ed.items()
    answers = {(r["item_id"], r["model"]): r for r in ed.rows(ANSWERS)}
    have = {m for _, m in answers}
    for name in (a, b):
        if name != BASELINE and name not in have:
            raise TaneError(f"no answers of model {name!r} in this eval directory "
                            f"(models: {', '.join(sorted(have)) or 'none'})",
                            path=str(ed.path), field="a" if name == a else "b")
    if a == b:
        raise TaneError("--a and --b name the same model", field="b")
    if a == BASELINE:
        raise TaneError("the baseline goes in --b", field="a")
    out, skipped = [], 0
    for it in items:
        ra = answers.get((it.id, a))
        if b == BASELINE:
            if not it.baseline:
                skipped += 1
                continue
            tb, b_name = [it.baseline["output"]], it.baseline["model"]
        else:
            rb = answers.get((it.id, b))
            tb, b_name = (rb or {}).get("turns"), b
        ta = (ra or {}).get("turns")
        if ta is None or tb is None or len(ta) != len(tb):
            skipped += 1
            continue
        out.append((it, ta, tb, b_name))
    if b == BASELINE and not out and skipped:
        raise TaneError("this benchmark has no baseline outputs (AlpacaEval-style 'output' "
                        "with 'generator'): compare two models with --b MODEL",
                        path=str(ed.path), field="b")
    return out, skipped


async def run_compare(ed: EvalDir, judge: Any, a: str, b: str, levels: int = 3,
                      opts: JudgeOptions | None = None, progress: bool = True) -> dict[str, Any]:
    opts = opts or JudgeOptions()
    if levels not in (3, 5):
        raise TaneError(f"--levels must be 3 or 5, got {levels}", field="levels")
    lang = opts.lang or ed.meta.get("lang") or "ja"
    tpl = load_template("eval_compare", lang)
    pairs, skipped = _pairs(ed, a, b)
    scale = 10 if ed.meta.get("format") == "mt_bench" else 5  # which references to show
    started = time.monotonic()
    caller = Caller(judge, ed.rd)
    stats = CallStats()
    schema = verdict_schema(levels, opts.max_tokens)
    b_names = {bn for *_, bn in pairs}
    try:
        warnings = await caller.check()
        bar = Progress(f"compare {a} vs {b} ({judge.name})", len(pairs), enabled=progress)

        async def order(it: Item, first: list[str], second: list[str], tag: str
                        ) -> dict[str, Any]:
            ref = it.reference if use_reference(it, scale, opts.reference) else None
            text = tpl.render(turns=it.turns, answers_a=first, answers_b=second,
                              reference=ref or [], levels=levels)
            return await ask_judge(caller, text, schema, lambda s: parse_verdict(s, levels),
                                   opts, stats, "compare", levels, it.id, tag)

        async def one(it: Item, ta: list[str], tb: list[str], b_name: str) -> dict[str, Any]:
            x, y = await asyncio.gather(order(it, ta, tb, f"{a}|{b_name}"),
                                        order(it, tb, ta, f"{b_name}|{a}"))
            ab_level = x["value"]
            ba_level = -y["value"] if y["value"] is not None else None
            statuses = {x["status"], y["status"]}
            status = "error" if "error" in statuses else \
                "parse_failed" if "parse_failed" in statuses else "ok"
            bar.tick(status)
            errors = [f"{k}: {g['error']}" for k, g in (("ab", x), ("ba", y)) if g["error"]]
            return {"item_id": it.id, "a": a, "b": b_name, "judge": judge.name,
                    "category": it.category, **combine(ab_level, ba_level),
                    "ab_level": ab_level if levels == 5 else None,
                    "ba_level": ba_level if levels == 5 and ba_level is not None else None,
                    "len_a": sum(len(t) for t in ta), "len_b": sum(len(t) for t in tb),
                    "status": status, "retried": x["retried"] or y["retried"],
                    "levels": levels, "raw_ab": x["raw"], "raw_ba": y["raw"],
                    "error": "; ".join(errors) or None}

        rows = await asyncio.gather(*(one(*p) for p in pairs))
        bar.finish()
        ed.meta.setdefault("judges", {})[judge.name] = caller.info()
    finally:
        await caller.aclose()
    all_rows = ed.replace_rows(
        COMPARISONS, lambda r: r["judge"] == judge.name and r["a"] == a
        and r["b"] in (b_names | {b}), rows)
    c = counts(rows)
    ok = [r for r in rows if r["consistent"] is not None]
    info = {"status": "complete" if not c["error"] else "incomplete", "finished": now(),
            "judge": judge.name, "a": a, "b": b, "levels": levels, "skipped": skipped, **c,
            "consistent": sum(1 for r in ok if r["consistent"]),
            "inconsistent": sum(1 for r in ok if not r["consistent"]),
            **usage([caller], stats), "constrained": caller.constrained,
            "options": {"max_tokens": opts.max_tokens, "temperature": opts.temperature,
                        "seed": opts.seed, "reference": opts.reference, "lang": lang,
                        "template": tpl.id},
            "seconds": round(time.monotonic() - started, 2), "warnings": warnings,
            "by_judge": by_judge(all_rows)}
    ed.step("compare", info)
    return info
