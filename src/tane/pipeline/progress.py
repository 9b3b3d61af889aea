"""Progress bar while a run works, summary table when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .runner import RunState


@contextlib.asynccontextmanager
async def live_progress(state: RunState, console: Console, enabled: bool = True
                        ) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    progress = Progress(
        TextColumn("[bold]kept[/] {task.completed:.0f}/{task.total:.0f}"),
        BarColumn(),
        TextColumn("round {task.fields[round]}"),
        TextColumn("in flight {task.fields[in_flight]}"),
        TextColumn("{task.fields[tps]:.1f} tok/s"),
        TextColumn("calls {task.fields[calls]}"),
        TimeElapsedColumn(),
        console=console, transient=False, refresh_per_second=4)
    task = progress.add_task("run", total=state.target, round=0, in_flight=0, tps=0.0, calls=0)

    async def refresh() -> None:
        while True:
            elapsed = max(time.perf_counter() - state.started, 1e-9)
            progress.update(task, completed=min(state.kept, state.target), round=state.round,
                            in_flight=state.llm.in_flight,
                            tps=state.llm.completion_tokens / elapsed, calls=state.llm.calls)
            await asyncio.sleep(0.25)

    with progress:
        refresher = asyncio.create_task(refresh())
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            progress.update(task, completed=min(state.kept, state.target))


def summary_table(stats: dict[str, Any]) -> Table:
    t = Table(title=f"kept {stats['kept']}/{stats['target']} in {stats['wall_seconds']:.1f}s "
                    f"({stats['rounds']} rounds)")
    for col in ("stage", "in", "kept", "dropped", "calls", "cached", "tok out", "tok/s", "s"):
        t.add_column(col, justify="left" if col == "stage" else "right", no_wrap=True)
    notes = []
    for name, s in stats["stages"].items():
        drops = sorted(s["dropped"].items(), key=lambda kv: -kv[1])
        t.add_row(name, str(s["items_in"]), str(s["kept"]), str(sum(s["dropped"].values())),
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
