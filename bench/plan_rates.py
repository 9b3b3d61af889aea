"""Measure the rates a first plan uses (src/tane/config/plan_rates.py) on the embedded
model, and say how close the first plans come.

    python bench/plan_rates.py                                  # the default recipes
    python bench/plan_rates.py --run recipes/quickstart.yaml:8 --run recipes/curate_judge_ja.yaml:2
    python bench/plan_rates.py --from runs/qs --from runs/judge # measure finished runs
    python bench/plan_rates.py --check recipes/quickstart.yaml:3   # a fresh run, not measured
    python bench/plan_rates.py --from recipes/quickstart.yaml:8=runs/qs8 --check recipes/quickstart.yaml:3=runs/qs3
    python bench/plan_rates.py --dry                            # print the table, write nothing

Each ``--run RECIPE:TARGET`` is a fresh ``tane run`` into a temporary directory (kept
with ``--keep DIR``). Every stage of every measured run gives its config's
``measure(stats)`` counts, summed under ``method/mode/model class``; the sums are
written to plan_rates.py, with the machine (cores, and the single-thread decode speed
when ``--tps`` gives it, from ``python bench/threads.py``). Then, for every run (the
measured ones and the ``--check`` ones), the first plan made with the new table (no
earlier run: ``tane plan --no-measure``) is printed against the calls the run made.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pprint
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tane.config import plan_rates  # noqa: E402
from tane.pipeline.plan import rates_key  # noqa: E402
from tane.recipe import Recipe  # noqa: E402

DEFAULT_RUNS = ["recipes/quickstart.yaml:8", "recipes/curate_judge_ja.yaml:2"]
TABLE = ROOT / "src" / "tane" / "config" / "plan_rates.py"


def tane(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "tane.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)


def run(spec: str, where: Path, threads: str | None) -> Path:
    recipe, _, target = spec.rpartition(":")
    out = where / f"{Path(recipe).stem}-{target}"
    t0 = time.perf_counter()
    res = tane("run", recipe, "--out", str(out), "--target", target, "--no-progress",
               *(["--threads", threads] if threads else []))
    if res.returncode != 0:
        sys.exit(f"{spec}: tane run failed ({res.returncode}):\n{res.stderr[-2000:]}")
    print(f"ran {spec} in {time.perf_counter() - t0:.0f} s -> {out}", file=sys.stderr)
    return out


def counts_of(run_dir: Path) -> dict[str, dict[str, float]]:
    """method/mode/class -> counts, from one finished run's manifest and stats (its
    stages in the recipe's order)."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    stats = json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))
    rec = Recipe.model_validate(manifest["recipe"])
    out: dict[str, dict[str, float]] = {}
    for cfg, st in zip(rec.stages, (stats.get("stages") or {}).values()):
        key = rates_key(cfg, rec.llm_for(rec.model_of(cfg)))
        for k, v in cfg.measure(st).items():
            acc = out.setdefault(key, {})
            acc[k] = acc.get(k, 0.0) + v
    return out


HEADER = '''"""Counts measured on real runs, per method, mode and model class: what a first plan
(no earlier run in its directory) estimates a stage's drops and calls from.

Written by ``python bench/plan_rates.py``, which runs recipes on the embedded model and
sums each stage's :meth:`~tane.config.base.StageBase.measure` under
``method/mode/model class``; edit that bench, not this file.
"""

from __future__ import annotations

'''


def write_table(counts: dict[str, dict[str, float]], measured: dict[str, object]) -> None:
    lines = [HEADER + "MEASURED: dict[str, object] = {"]
    lines += [f"    {k!r}: {v!r}," for k, v in measured.items()]
    lines += ["}", "", "COUNTS: dict[str, dict[str, float]] = {"]
    for key in sorted(counts):
        body = pprint.pformat(counts[key], width=80).replace("\n", "\n" + " " * 8)
        lines.append(f"    {key!r}:\n        {body},")
    lines.append("}")
    TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(spec: str, run_dir: Path) -> dict[str, object]:
    recipe, _, target = spec.rpartition(":")
    res = tane("plan", recipe, "--target", target, "--no-measure", "--json")
    if res.returncode != 0:
        sys.exit(f"{spec}: tane plan failed:\n{res.stderr[-2000:]}")
    plan = json.loads(res.stdout)
    stats = json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))
    made = int(stats["llm"]["calls"]) + int(stats["llm"].get("cache_hits", 0))
    stages = {s["name"]: (s["calls"], _made(stats, s["name"])) for s in plan["stages"]}
    return {"run": spec, "predicted": plan["calls"], "made": made,
            "ratio": round(made / plan["calls"], 2) if plan["calls"] else None,
            "stages": stages}


def _made(stats: dict, name: str) -> int:
    st = (stats.get("stages") or {}).get(name) or {}
    return int(st.get("llm_calls", 0)) + int(st.get("cache_hits", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", default=[], help="RECIPE:TARGET to run and "
                                                               "measure")
    ap.add_argument("--from", dest="runs_from", action="append", default=[],
                    help="a finished run directory to measure (RECIPE:TARGET=DIR to also "
                         "check its first plan)")
    ap.add_argument("--check", action="append", default=[],
                    help="RECIPE:TARGET to run and compare with its first plan, not measured "
                         "(RECIPE:TARGET=DIR: a finished run of it)")
    ap.add_argument("--threads", default=None, help="tane run --threads")
    ap.add_argument("--tps", type=float, default=None,
                    help="single-thread decode tokens/s from bench/threads.py (recorded)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    ap.add_argument("--dry", action="store_true", help="print the table, write nothing")
    a = ap.parse_args()
    runs = a.run or ([] if a.runs_from else DEFAULT_RUNS)
    where = a.keep or Path(tempfile.mkdtemp(prefix="plan-rates-"))
    where.mkdir(parents=True, exist_ok=True)
    measured: list[tuple[str | None, Path]] = [(s, run(s, where, a.threads)) for s in runs]
    for f in a.runs_from:
        spec, sep, d = f.rpartition("=")
        measured.append((spec if sep else None, Path(d)))
    total: dict[str, dict[str, float]] = defaultdict(dict)
    for _, d in measured:
        for key, got in counts_of(d).items():
            for k, v in got.items():
                total[key][k] = total[key].get(k, 0.0) + v
    info: dict[str, object] = {
        "runs": [s or str(d) for s, d in measured],
        "machine": f"{os.cpu_count()} cores"
                   + (f", {a.tps:g} tok/s single-thread decode (bench/threads.py)"
                      if a.tps else "") + f", load average {os.getloadavg()[0]:.1f}",
        "when": time.strftime("%Y-%m-%d", time.gmtime())}
    if a.dry:
        pprint.pprint({"MEASURED": info, "COUNTS": dict(total)}, width=100)
        return
    write_table(dict(total), info)
    importlib.reload(plan_rates)
    checks = [(c.rpartition("=")[0], Path(c.rpartition("=")[2])) if "=" in c
              else (c, run(c, where, a.threads)) for c in a.check]
    rows = [check(s, d) for s, d in measured + checks if s]
    print("| run | predicted | made | made / predicted | per stage (predicted/made) |")
    print("|---|---|---|---|---|")
    for r in rows:
        per = ", ".join(f"{k} {p}/{m}" for k, (p, m) in r["stages"].items())
        print(f"| {r['run']} | {r['predicted']} | {r['made']} | {r['ratio']} | {per} |")


if __name__ == "__main__":
    main()
