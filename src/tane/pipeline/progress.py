"""Progress while a run works (a live table on a terminal, a plain line every few seconds
otherwise), summary table when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..errors import TaneError
from .runner import RunState


def _eta(state: RunState, elapsed: float) -> str:
    goal = state.target
    if goal is None or state.survived <= 0:
        return "-"
    left = goal - state.survived
    if left <= 0:
        return "0s"
    secs = elapsed / state.survived * left
    return f"{secs / 60:.0f}m" if secs >= 120 else f"{secs:.0f}s"


RECENT_S = 60.0  # a timeout this recent is shown
PLAIN_EVERY = 5.0  # seconds between the plain progress lines of a run without a terminal


def timing_out(state: RunState, now: float | None = None) -> str:
    """A warning for the live display while calls time out (empty when none did lately):
    which model, how many attempts so far, its timeout and the flag that raises it."""
    now = time.monotonic() if now is None else now
    parts = []
    for name, cs in sorted(state.models.items()):
        last = getattr(cs, "last_timeout", 0.0)
        if not last or now - last > RECENT_S:
            continue
        limit = getattr(cs, "timeout", 0.0)
        flag = "--timeout" if name == "default" else f"--timeout {name}=SECONDS"
        parts.append(f"{name}: {cs.timeouts} timed out, last {now - last:.0f}s ago"
                     + (f" (timeout {limit:g}s; raise it with {flag})" if limit else ""))
    return ("calls timing out: " + "; ".join(parts)) if parts else ""


def live_table(state: RunState, names: list[str]) -> Table:
    """One row per stage: records in / kept / in flight, tok/s, its model's concurrency;
    under it a warning while calls time out."""
    elapsed = max(time.perf_counter() - state.started, 1e-9)
    goal = "all" if state.target is None else str(state.target)
    t = Table(title=f"kept {state.survived}/{goal} · round {state.round} · "
                    f"{elapsed:.0f}s · ETA {_eta(state, elapsed)}", title_justify="left",
              box=None, pad_edge=False)
    slow = timing_out(state)
    if slow:
        t.caption, t.caption_justify, t.caption_style = slow, "left", "yellow"
    for col in ("stage", "model", "in", "kept", "dropped", "in flight", "calls", "tok/s",
                "concurrency"):
        t.add_column(col, justify="left" if col in ("stage", "model") else "right",
                     no_wrap=True)
    for name, st in zip(names, state.stages):
        cs = state.models.get(st.model)
        conc = "-"
        if cs is not None:
            limit = getattr(cs, "concurrency", 0) or 0
            conc = f"{cs.in_flight}/{limit}" if limit else str(cs.in_flight)
        # a generator receives no records: its "in" is what it decided on
        t.add_row(name, st.model, str(st.records_in or st.items_in), str(st.kept),
                  str(sum(st.dropped.values())), str(st.active), str(st.llm.calls),
                  f"{st.llm.completion_tokens / elapsed:.1f}", conc)
    return t


def progress_line(state: RunState, names: list[str]) -> str:
    """The live table in one plain line, for a log file or a pipe: kept/target, round,
    time, ETA, then per stage in/kept/dropped and calls, then any timeout warning."""
    elapsed = max(time.perf_counter() - state.started, 1e-9)
    goal = "all" if state.target is None else str(state.target)
    parts = [f"kept {state.survived}/{goal}", f"round {state.round}", f"{elapsed:.0f}s",
             f"ETA {_eta(state, elapsed)}"]
    for name, st in zip(names, state.stages):
        parts.append(f"{name}: in {st.records_in or st.items_in}, kept {st.kept}, "
                     f"dropped {sum(st.dropped.values())}, in flight {st.active}, "
                     f"calls {st.llm.calls}")
    slow = timing_out(state)
    return " · ".join(parts) + (f" · {slow}" if slow else "")


@contextlib.asynccontextmanager
async def plain_progress(state: RunState, console: Console, names: list[str],
                         every: float = PLAIN_EVERY) -> AsyncIterator[None]:
    """A line every ``every`` seconds while the run works, for a console that is not a
    terminal (nothing is redrawn, so a log keeps each line)."""
    async def tick() -> None:
        while True:
            await asyncio.sleep(every)
            console.print(progress_line(state, names), highlight=False, markup=False,
                          soft_wrap=True)

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


@contextlib.asynccontextmanager
async def live_progress(state: RunState, console: Console, names: list[str],
                        enabled: bool = True) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    if not console.is_terminal:
        async with plain_progress(state, console, names):
            yield
        return
    with Live(live_table(state, names), console=console, refresh_per_second=2,
              transient=False) as live:
        async def refresh() -> None:
            while True:
                await asyncio.sleep(0.5)
                live.update(live_table(state, names))

        refresher = asyncio.create_task(refresh())
        try:
            yield
        except TaneError:
            # the run stops with one line saying why: the table goes, the line stays alone
            live.transient = True
            live.update("")
            raise
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            if not live.transient:
                live.update(live_table(state, names))


def summary_table(stats: dict[str, Any]) -> Table:
    goal = "all" if stats["target"] is None else stats["target"]
    t = Table(title=f"kept {stats['kept']}/{goal} in {stats['wall_seconds']:.1f}s "
                    f"({stats['rounds']} rounds)")
    for col in ("stage", "model", "in", "kept", "dropped", "calls", "cached", "tok out",
                "tok/s", "s"):
        t.add_column(col, justify="left" if col == "stage" else "right", no_wrap=True)
    notes = []
    src = stats.get("source") or {}
    if src.get("drops"):  # rows refused before the first stage (too_long, missing_field)
        notes.append("source drops: " + ", ".join(f"{k} {v}" for k, v in src["drops"].items()))
    for name, s in stats["stages"].items():
        drops = sorted(s["dropped"].items(), key=lambda kv: -kv[1])
        t.add_row(name, s.get("model", "default"), str(s["items_in"]), str(s["kept"]),
                  str(sum(s["dropped"].values())),
                  str(s["llm_calls"]), str(s["cache_hits"]), str(s["completion_tokens"]),
                  f"{s['tokens_per_second']:.1f}", f"{s['wall_seconds']:.1f}")
        if drops:
            notes.append(f"{name} drops: " + ", ".join(f"{k} {v}" for k, v in drops))
    llm = stats["llm"]
    if llm["retries"] or llm["failures"]:
        notes.append(f"retries: {llm['retries'] or '-'}; failed calls: {llm['failures'] or '-'}")
    t.caption = "\n".join(notes)
    t.caption_justify = "left"
    return t
