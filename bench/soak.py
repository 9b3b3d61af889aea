"""Soak: a whole run through 30 % injected faults, killed and resumed at random points.

    python bench/soak.py [--target 600] [--rate 0.3] [--kills 10] [--seed 1]
                         [--timeout 1.0] [--dir DIR] [--json OUT.json]

The simulated server (``bench/simserver.py``: deterministic answers to tane's
Self-Instruct prompts) sits behind ``tests/faultproxy.py``, which answers ``--rate`` of the
model calls with a fault, drawn evenly from: 500, 503, 429 with ``Retry-After: 1``, a TCP
reset, a stall longer than ``--timeout`` (then forwarded: the server works on the abandoned
call), a 200 whose JSON body is cut in half, and a 200 without choices. The endpoint check
(``GET /v1/models``) is not faulted.

Three runs of the same recipe (Self-Instruct, Japanese, ``--target`` kept records,
``max_retries: 10`` so that no call fails for good by bad luck):

1. **reference**: straight to the server, no faults;
2. **faulted**: through the proxy, to the end. It must finish; ``stats.json`` must count
   every injected fault: retries plus failures by reason equal what the proxy injected
   (``500 -> http_500``, ``503 -> http_503``, ``429 -> http_429``, reset -> ``connection``,
   stall -> ``timeout``, cut body and no choices -> ``bad_response``); its dataset must
   equal the reference's;
3. **killed**: through the proxy, ``SIGKILL``-ed ``--kills`` times at random points (once
   the journal holds a random number of calls, plus up to 0.1 s), each time rerun with the
   same command, then let finish. Its dataset must equal the
   reference's, no journaled call may have been made twice (``puts`` of every journal row
   is 1), and the last segment's ``stats.json`` must count the faults injected during it.

Prints one JSON object of figures (faults injected and survived, calls, calls repeated,
rows lost, wall times) and exits non-zero if a check fails. ``tests/pipeline/test_soak.py``
runs a short version.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from faultproxy import FaultProxy  # noqa: E402
from simserver import SimServer  # noqa: E402

FAULTS = ("500", "503", "429", "drop", "slow", "truncate", "empty")
REASON = {"500": "http_500", "503": "http_503", "429": "http_429", "drop": "connection",
          "slow": "timeout", "truncate": "bad_response", "empty": "bad_response"}

RECIPE = """\
name: soak
seed: 7
target: {target}
llm: {{max_retries: 10, concurrency: 8}}
seeds: {{path: bundled:ja}}
stages:
  - method: self_instruct
    mode: ja
    request_batch_size: 4
    max_rounds: 400
"""


def schedule(n: int, rate: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(FAULTS) if rng.random() < rate else "ok" for _ in range(n)]


def expected_reasons(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = collections.Counter()
    for action, n in counts.items():
        if action in REASON and n:
            out[REASON[action]] += n
    return dict(sorted(out.items()))


def accounted(stats: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = collections.Counter()
    for table in ("retries", "failures"):
        for reason, n in (stats["llm"].get(table) or {}).items():
            out[reason] += n
    return dict(sorted(out.items()))


def tane_cmd(recipe: Path, out: Path, url: str, timeout: float) -> list[str]:
    return [sys.executable, "-m", "tane.cli", "run", str(recipe), "-o", str(out), "--llm", url,
            "--model", "sim", "--license", "apache-2.0", "--timeout", str(timeout),
            "--no-progress"]


def run_env() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT / "src")}


def run_to_end(cmd: list[str], limit: float = 900) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=run_env())
    if res.returncode != 0:
        raise RuntimeError(f"run failed ({res.returncode}): {res.stderr[-3000:]}")
    return time.perf_counter() - t


def dataset(run: Path) -> list[str]:
    return (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()


def journal(run: Path) -> tuple[int, int]:
    """(journaled calls, the most times one call was put)."""
    con = sqlite3.connect(run / "run.sqlite")
    try:
        n, most = con.execute("SELECT COUNT(*), COALESCE(MAX(puts), 0) FROM calls").fetchone()
    finally:
        con.close()
    return n, most


def journal_count(run: Path) -> int:
    """Calls journaled so far (0 before the run directory exists)."""
    if not (run / "run.sqlite").exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def soak(work: Path, *, target: int = 600, rate: float = 0.3, kills: int = 10,
         seed: int = 1, timeout: float = 1.0) -> dict[str, Any]:
    """Run the three runs in ``work`` and return the figures; raises AssertionError when
    a check fails."""
    work.mkdir(parents=True, exist_ok=True)
    recipe = work / "soak.yaml"
    recipe.write_text(RECIPE.format(target=target), encoding="utf-8")
    rng = random.Random(seed)
    figures: dict[str, Any] = {"target": target, "fault_rate": rate, "timeout_s": timeout}
    with SimServer.start(streams=8, ttft=0.02, tps=2000.0, tokens_mean=60) as sim:
        ref = work / "reference"
        figures["reference_s"] = round(run_to_end(tane_cmd(recipe, ref, sim.url, timeout)), 2)
        want = dataset(ref)
        calls, _ = journal(ref)
        figures["calls"] = calls

        # 2. to the end through the faults
        root = sim.url.removesuffix("/v1")
        with FaultProxy(root, schedule(20 * calls, rate, seed), slow_delay=timeout + 0.5,
                        only_posts=True, retry_after="1") as proxy:
            faulted = work / "faulted"
            wall = run_to_end(tane_cmd(recipe, faulted, proxy.url + "/v1", timeout))
            injected = {k: v for k, v in proxy.counts.items() if k != "ok"}
        st = json.loads((faulted / "stats.json").read_text(encoding="utf-8"))
        got, want_reasons = accounted(st), expected_reasons(injected)
        assert got == want_reasons, f"stats {got} != injected {want_reasons}"
        assert dataset(faulted) == want, "the faulted run's dataset differs"
        figures["faulted"] = {
            "wall_s": round(wall, 2), "requests": sum(proxy.counts.values()),
            "faults_injected": sum(injected.values()),
            "by_kind": dict(sorted(injected.items())),
            "retries": st["llm"]["retries"], "failures": st["llm"]["failures"],
            "faults_survived": sum(st["llm"]["retries"].values()),
            "calls_failed_for_good": sum(st["llm"]["failures"].values()),
            "concurrency_cuts": {k: v for m in st.get("models", {}).values()
                                 for k, v in (m.get("concurrency") or {}).get("cuts",
                                                                              {}).items()},
            "rows": len(dataset(faulted)), "rows_lost": len(set(want) - set(dataset(faulted))),
        }

        # 3. killed at random moments, resumed with the same command
        with FaultProxy(root, schedule(40 * calls, rate, seed + 1), slow_delay=timeout + 0.5,
                        only_posts=True, retry_after="1") as proxy:
            killed = work / "killed"
            cmd = tane_cmd(recipe, killed, proxy.url + "/v1", timeout)
            # kill points: random numbers of journaled calls, spread over the run, each
            # plus a random fraction of a second (so a kill also lands mid-commit)
            # (not in the last sixth: a segment there may finish before the kill lands)
            points = sorted(rng.sample(range(1, max(kills + 1, calls * 5 // 6)), kills))
            moments, done_early = [], 0
            for point in points:
                goal = max(point, journal_count(killed) + 1)  # each segment gets somewhere
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env=run_env())
                while proc.poll() is None and journal_count(killed) < goal:
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.1))
                if proc.poll() is not None:
                    done_early += 1  # it finished first: nothing to kill this time
                    continue
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                moments.append(journal_count(killed))
            before = collections.Counter(proxy.counts)
            last = run_to_end(cmd)
            during = {k: v - before.get(k, 0) for k, v in proxy.counts.items()
                      if k != "ok" and v - before.get(k, 0)}
        st = json.loads((killed / "stats.json").read_text(encoding="utf-8"))
        got, want_reasons = accounted(st), expected_reasons(during)
        assert got == want_reasons, f"last segment: stats {got} != injected {want_reasons}"
        n, most = journal(killed)
        final = dataset(killed)
        assert most == 1, f"a journaled call was made {most} times"
        assert final == want, "the killed and resumed run's dataset differs"
        assert len(moments) == kills, f"only {len(moments)} of {kills} kills hit a run"
        figures["killed"] = {
            "kills": len(moments), "killed_at_calls": moments, "finished_before_kill": done_early,
            "faults_injected": sum(v for k, v in proxy.counts.items() if k != "ok"),
            "journaled_calls": n, "calls_repeated": most - 1, "last_segment_s": round(last, 2),
            "rows": len(final), "rows_lost": len(set(want) - set(final)),
            "identical_to_reference": final == want,
        }
    return figures


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=int, default=600)
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tane-soak-") as tmp:
        figures = soak(a.dir or Path(tmp), target=a.target, rate=a.rate, kills=a.kills,
                       seed=a.seed, timeout=a.timeout)
    text = json.dumps(figures, ensure_ascii=False, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
