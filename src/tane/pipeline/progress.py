"""Progress while a run works (a live table on a terminal, a plain line every few seconds
otherwise), summary table when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable

from rich import box
from rich.console import Console
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..engine import StageStats
from ..errors import TaneError
from .eta import Eta
from .runner import RunState


RECENT_S = 60.0  # a timeout this recent is shown
PLAIN_EVERY = 5.0  # seconds between the plain progress lines of a run without a terminal


def timing_out(state: RunState, now: float | None = None) -> str:
    """A warning for the live display while calls time out (empty when none did lately):
    which model, how many attempts so far, its timeout and the flag that raises it."""
    now = time.monotonic() if now is None else now
    parts = []
    for name, cs in sorted(state.models.items()):
        last = cs.last_timeout
        if not last or now - last > RECENT_S:
            continue
        limit = cs.timeout
        flag = "--timeout" if name == "default" else f"--timeout {name}=SECONDS"
        parts.append(f"{name}: {cs.timeouts} timed out, last {now - last:.0f}s ago"
                     + (f" (timeout {limit:g}s; raise it with {flag})" if limit else ""))
    return ("calls timing out: " + "; ".join(parts)) if parts else ""


def short_model(model_id: str) -> str:
    """A model id as the tables show it: the last part of a Hugging Face id or a path,
    without a note in parentheses (``google/gemma-3-270m (Q4_K_M GGUF)`` ->
    ``gemma-3-270m``)."""
    base = model_id.split(" (")[0].strip().rstrip("/")
    return base.rsplit("/", 1)[-1] or model_id


def fitted(make: Callable[[int], Table], width: int | None, levels: int) -> Table:
    """The most detailed of ``make(0)`` .. ``make(levels - 1)`` (each narrower than the
    one before) whose columns fit ``width``; the last one otherwise."""
    if width is None:
        return make(0)
    console = Console(width=100_000)  # wide enough to measure a table's natural width
    for level in range(levels):
        t = make(level)
        if Measurement.get(console, console.options, t).maximum <= width:
            return t
    return t


def _in_flight(state: RunState) -> int:
    return sum(st.active for st in state.stages)


def eta_text(state: RunState, eta: Eta | None, elapsed: float) -> str:
    eta = eta if eta is not None else Eta()
    return eta(state.survived, state.target, _in_flight(state), elapsed)


def _live_model(name: str, st: StageStats, models: dict[str, str] | None) -> str:
    used = st.llm.model  # the model that served its latest call
    if used:
        return short_model(used)
    return (models or {}).get(name, st.model)


def live_table(state: RunState, names: list[str], width: int | None = None,
               eta: Eta | None = None, now: float | None = None,
               models: dict[str, str] | None = None) -> Table:
    """One row per stage: records in / kept / in flight, tok/s, its model's concurrency;
    under it a warning while calls time out. Narrower than ``width``: shorter headings,
    then the model under the stage's name. ``models``: what to call each stage's model
    before its first reply names it, by stage name (``-`` for a stage without one)."""
    now = time.perf_counter() if now is None else now
    elapsed = max(now - state.started, 1e-9)
    goal = "all" if state.target is None else str(state.target)
    title = (f"kept {state.survived}/{goal} · round {state.round} · "
             f"{elapsed:.0f}s · ETA {eta_text(state, eta, elapsed)}")
    slow = timing_out(state)
    rows = []
    for name, st in zip(names, state.stages):
        cs = state.models.get(st.model)
        conc = "-"
        if cs is not None:
            limit = cs.concurrency
            conc = f"{cs.in_flight}/{limit}" if limit else str(cs.in_flight)
        # a generator receives no records: its "in" is what it decided on
        rows.append((name, _live_model(name, st, models), str(st.records_in or st.items_in),
                     str(st.kept), str(sum(st.dropped.values())), str(st.active),
                     str(st.llm.calls), f"{st.llm.completion_tokens / elapsed:.1f}", conc))

    def make(level: int) -> Table:
        t = Table(title=title, title_justify="left", box=None, pad_edge=False)
        if slow:
            t.caption, t.caption_justify, t.caption_style = slow, "left", "yellow"
        heads = (("stage", "model", "in", "kept", "dropped", "in flight", "calls", "tok/s",
                  "concurrency") if level == 0 else
                 ("stage", "model", "in", "kept", "drop", "busy", "calls", "tok/s", "conc"))
        stacked = level >= 2
        for col in heads:
            if stacked and col == "model":
                continue
            t.add_column("stage / model" if stacked and col == "stage" else col,
                         justify="left" if col in ("stage", "model") else "right",
                         no_wrap=level < 3, overflow="ellipsis")
        for r in rows:
            t.add_row(*((Text(r[0]) + Text(f"\n {r[1]}", style="dim"),) + r[2:]
                        if stacked else r))
        return t

    return fitted(make, width, 4)


def progress_line(state: RunState, names: list[str], eta: Eta | None = None,
                  now: float | None = None) -> str:
    """The live table in one plain line, for a log file or a pipe: kept/target, round,
    time, ETA, then per stage in/kept/dropped and calls, then any timeout warning."""
    now = time.perf_counter() if now is None else now
    elapsed = max(now - state.started, 1e-9)
    goal = "all" if state.target is None else str(state.target)
    parts = [f"kept {state.survived}/{goal}", f"round {state.round}", f"{elapsed:.0f}s",
             f"ETA {eta_text(state, eta, elapsed)}"]
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
    eta = Eta()

    async def tick() -> None:
        while True:
            await asyncio.sleep(every)
            console.print(progress_line(state, names, eta), highlight=False, markup=False,
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
                        enabled: bool = True, models: dict[str, str] | None = None
                        ) -> AsyncIterator[None]:
    """The live table on a terminal (as wide as the terminal), else a plain line every
    few seconds; ``models``: what to call each stage's model before its first reply
    names it, by stage name."""
    if not enabled:
        yield
        return
    if not console.is_terminal:
        async with plain_progress(state, console, names):
            yield
        return
    eta = Eta()

    def table() -> Table:
        return live_table(state, names, console.width, eta, models=models)

    with Live(table(), console=console, refresh_per_second=2, transient=False) as live:
        async def refresh() -> None:
            while True:
                await asyncio.sleep(0.5)
                live.update(table())

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
                live.update(table())


def _summary_model(stats: dict[str, Any], s: dict[str, Any], used: str = "") -> str:
    """The model a stage's calls went to: ``used`` (the id its replies gave), else the
    recipe's model, else the backend; ``-`` for a stage that called none."""
    if not (s.get("llm_calls") or s.get("cache_hits")):
        return "-"
    if used:
        return short_model(used)
    cfg = (stats.get("models") or {}).get(s.get("model", "default")) or {}
    if cfg.get("model"):
        return short_model(cfg["model"])
    return str(cfg.get("backend") or s.get("model") or "-")


SUMMARY_COLUMNS = ("stage", "model", "in", "kept", "dropped", "calls", "cached", "tok out",
                   "tok/s", "s")
SUMMARY_LEVELS = 5  # full; no empty columns; no token count; model under stage; wrapped


def summary_table(stats: dict[str, Any], width: int | None = None,
                  used: dict[str, str] | None = None) -> Table:
    """The table a run ends with: one row per stage, its drops by reason under it (the
    records the target cut said apart: they are no quality drop). ``used``: the id of the
    model that served each stage, by stage name (else the recipe's). Narrower than
    ``width``: no vertical lines and no column that is all zero, then no token count,
    then the model under the stage's name, then wrapped cells."""
    goal = "all" if stats["target"] is None else stats["target"]
    title = (f"kept {stats['kept']}/{goal} in {stats['wall_seconds']:.1f}s "
             f"({stats['rounds']} rounds)")
    notes, cut = [], []
    src = stats.get("source") or {}
    if src.get("drops"):  # rows refused before the first stage (too_long, missing_field)
        notes.append("source drops: " + ", ".join(f"{k} {v}" for k, v in src["drops"].items()))
    rows = []
    for name, s in stats["stages"].items():
        drops = sorted(((k, v) for k, v in s["dropped"].items() if k != "over_target"),
                       key=lambda kv: -kv[1])
        if s["dropped"].get("over_target"):
            cut.append(f"{name} {s['dropped']['over_target']}")
        model = _summary_model(stats, s, (used or {}).get(name, ""))
        rows.append((name, model, str(s["items_in"]), str(s["kept"]),
                     str(sum(s["dropped"].values())), str(s["llm_calls"]),
                     str(s["cache_hits"]), str(s["completion_tokens"]),
                     f"{s['tokens_per_second']:.1f}", f"{s['wall_seconds']:.1f}"))
        if drops:
            notes.append(f"{name} drops: " + ", ".join(f"{k} {v}" for k, v in drops))
    if cut:
        notes.append("over the target (made, not needed; no quality drop): " + ", ".join(cut))
    llm = stats["llm"]
    if llm["retries"] or llm["failures"]:
        notes.append(f"retries: {llm['retries'] or '-'}; failed calls: {llm['failures'] or '-'}")
    empty = {c for i, c in enumerate(SUMMARY_COLUMNS)
             if i >= 5 and all(float(r[i]) == 0 for r in rows)}

    def make(level: int) -> Table:
        t = Table(title=title, box=box.HEAVY_HEAD if level == 0 else box.SIMPLE_HEAD)
        cols = [i for i, c in enumerate(SUMMARY_COLUMNS)
                if not (level >= 1 and c in empty) and not (level >= 2 and c == "tok out")
                and not (level >= 3 and c == "model")]
        for i in cols:
            c = SUMMARY_COLUMNS[i]
            t.add_column("stage / model" if level >= 3 and c == "stage" else c,
                         justify="left" if c in ("stage", "model") else "right",
                         no_wrap=level < 4, overflow="fold")
        for r in rows:
            cells = [r[i] for i in cols]
            if level >= 3:
                cells[0] = Text(r[0]) + Text(f"\n {r[1]}", style="dim")
            t.add_row(*cells)
        t.caption = "\n".join(notes)
        t.caption_justify = "left"
        return t

    return fitted(make, width, SUMMARY_LEVELS)
