"""The engine's contract, followed from outside ``src/``: a method and an executor
registered here, run by the engine against the simulated server (bench/simserver.py, a
real HTTP server), with no file of tane changed.

The method (``shout``) upper-cases each instruction, per record, without a call; a
recipe answers source rows, dedups them (an ordered stage), then shouts and checks them.
The executor (``threads``) runs the per-record segments that call no model in a thread pool,
each record on an event loop of its own, and logs what they kept and dropped on the run's
loop; the rest is the local executor's. Its dataset is the local executor's, byte for
byte."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from tane.config.base import StageBase
from tane.config.registry import METHODS, register
from tane.engine import StageContext, StageStats
from tane.pipeline.execution import ExecutionPlan, Item
from tane.pipeline.executor_options import ExecutorOptions
from tane.pipeline.executors import EXECUTORS, register_executor
from tane.pipeline.local import LocalExecutor
from tane.pipeline.runner import Runner
from tane.recipe import load_recipe
from tane.schema import Drop, Record
from tane.stage import Batch, StageSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

ROWS = 12
THREADS: set[str] = set()  # the threads the method ran on


# -- a method: one config class, one stage class, one registry line ------------------------
class ShoutStage(StageBase):
    method: Literal["shout"]
    min_chars: int = Field(1, ge=0)

    def contract(self) -> StageSpec:
        return StageSpec("transform", reads=frozenset({"instruction"}), llm=False)


class Shout:
    def __init__(self, cfg: ShoutStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx

    async def process(self, records: list[Record]) -> Batch:
        THREADS.add(threading.current_thread().name)
        out = Batch()
        for r in records:
            if len(r.instruction) < self.cfg.min_chars:
                out.drops.append(self.ctx.drop("short", r.instruction, r.id))
            else:
                out.records.append(r.model_copy(update={"instruction": r.instruction.upper()}))
        return out


# -- an executor: per-record segments without a model call, in a thread pool ---------------
class ThreadOptions(ExecutorOptions):
    threads: int = Field(2, ge=1)


class _Collect:
    def __init__(self) -> None:
        self.kept: list[tuple[str, list[Record], list[str]]] = []
        self.drops: list[tuple[list[Drop], list[str]]] = []

    def log_kept(self, stage: str, records: list[Record], keys: list[str]) -> None:
        self.kept.append((stage, records, keys))

    def log_drops(self, drops: list[Drop], keys: list[str]) -> None:
        self.drops.append((drops, keys))


class ThreadedExecutor(LocalExecutor):
    def __init__(self, plan: ExecutionPlan, options: ThreadOptions):
        super().__init__(plan)
        self.pool = ThreadPoolExecutor(options.threads, thread_name_prefix="contract")
        self.sent = 0

    def launch(self, s: int, stages: list[int], unit: int,
               items: list[Item]) -> list[asyncio.Future[list[Item]]]:
        if any(self.p.specs[i].llm for i in stages):  # a model's client lives on this loop
            return super().launch(s, stages, unit, items)
        return [asyncio.ensure_future(self._one(stages, unit, it)) for it in items]

    async def _one(self, stages: list[int], unit: int, item: Item) -> list[Item]:
        loop = asyncio.get_running_loop()
        sink, stats = _Collect(), [StageStats(n) for n in self.p.names]
        mine = ExecutionPlan(names=self.p.names, specs=self.p.specs, stages=self.p.stages,
                             stats=stats, sink=sink)
        out = await loop.run_in_executor(
            self.pool, lambda: asyncio.run(LocalExecutor(mine).chain(stages, item, unit)))
        self.sent += 1
        for stage, records, keys in sink.kept:
            self.p.sink.log_kept(stage, records, keys)
        for drops, keys in sink.drops:
            self.p.sink.log_drops(drops, keys)
        for i in stages:
            st, got = self.p.stats[i], stats[i]
            st.records_in += got.records_in
            st.kept += got.kept
            for reason, n in got.dropped.items():
                st.dropped[reason] = st.dropped.get(reason, 0) + n
        return out

    def summary(self) -> dict[str, Any]:
        return {"records_sent": self.sent}

    def close(self) -> None:
        self.pool.shutdown()


@pytest.fixture(scope="module")
def registered():
    register("shout", f"{__name__}:Shout", ShoutStage)
    register_executor("threads", f"{__name__}:ThreadedExecutor", ThreadOptions,
                      help="per-record segments in a thread pool")
    try:
        yield
    finally:
        METHODS.pop("shout")
        EXECUTORS.pop("threads")


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.005, tps=3000.0, tokens_mean=30) as s:
        yield s


def _recipe(tmp: Path, url: str) -> Any:
    rows = [{"instruction": f"Task {i}: say something{'!' * (i % 4)}"} for i in range(ROWS)]
    rows[3]["instruction"] = "hi"  # short: the method drops it
    (tmp / "tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                     encoding="utf-8")
    path = tmp / "recipe.yaml"
    path.write_text(f"""name: contract
llm: {{backend: openai, base_url: {url}, model: sim, concurrency: 4}}
source: {{path: tasks.jsonl}}
stages:
  - {{method: answer, mode: en, prompt_style: chat, sampling: {{max_tokens: 30}}}}
  - {{method: curate, lang: en, steps: [{{name: exact_dup}}]}}
  - {{method: curate, lang: en, steps: [{{name: length, output_min: 1}}]}}
""", encoding="utf-8")
    rec = load_recipe(path)
    # the method's stage after the ordered one (a segment of its own with the last):
    # a recipe as data, the stage validated by its own class
    stages = [*rec.stages[:2], ShoutStage(method="shout", min_chars=3), rec.stages[2]]
    return rec.model_copy(update={"stages": stages})


def _run(rec: Any, out: Path, base: Path, executor: str, **options: Any) -> dict[str, Any]:
    runner = Runner(rec, out, base_dir=base, executor=executor, executor_options=options)
    return asyncio.run(runner.run())


# the recipe's stage list is typed by the methods tane itself registers: its manifest copy
# of the test's stage is written field by field, with pydantic's warning
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_a_registered_method_and_executor_run_through_the_engine(registered, sim, tmp_path):
    rec = _recipe(tmp_path, sim.url)
    THREADS.clear()
    local = _run(rec, tmp_path / "local", tmp_path, "local")
    assert THREADS == {"MainThread"}
    THREADS.clear()
    threaded = _run(rec, tmp_path / "threads", tmp_path, "threads", threads=3)
    assert THREADS and "MainThread" not in THREADS  # the method ran on the pool
    sent = threaded["stages"]["shout"]["records_in"]
    assert sent >= ROWS // 2 and threaded["executor"] == {"name": "threads",
                                                          "records_sent": sent}
    for name in ("dataset.jsonl", "rejected.jsonl"):
        assert ((tmp_path / "local" / name).read_bytes()
                == (tmp_path / "threads" / name).read_bytes()), name
    data = (tmp_path / "threads" / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(data) == threaded["kept"] == sent - 1
    assert all(json.loads(x)["instruction"].startswith("TASK") for x in data)
    for a, b in ((local, threaded),):
        for stage in ("answer", "curate", "shout", "curate#2"):
            for k in ("records_in", "kept", "dropped"):
                assert a["stages"][stage][k] == b["stages"][stage][k], (stage, k)
    assert threaded["stages"]["shout"]["dropped"] == {"short": 1}


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
def test_an_executors_options_are_its_own(registered, sim, tmp_path):
    from tane.errors import TaneError

    rec = _recipe(tmp_path, sim.url)
    with pytest.raises(TaneError, match="executor 'threads' option 'threads'"):
        Runner(rec, tmp_path / "x", base_dir=tmp_path, executor="threads",
               executor_options={"threads": 0})
    with pytest.raises(TaneError, match="executor 'local' has no option 'threads'"):
        Runner(rec, tmp_path / "x", base_dir=tmp_path, executor="local",
               executor_options={"threads": 2})
    assert not (tmp_path / "x").exists()
