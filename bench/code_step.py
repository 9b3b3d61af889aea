"""Throughput of the ``code`` curate step, and what it adds per record.

    python bench/code_step.py [--python 1000] [--r 200] [--workers 2]

Short answers, each with one fenced block: Python (8 in 10 run, 1 in 10 has a syntax
error, 1 in 10 raises) and R (the same shares; skipped without Rscript). Each set goes
through the step the way a curate stage runs it (``run_batch``, one batch, ``workers``
sandboxes at a time), after the same set through a cheap step (``length``) as the
baseline. Printed per set: records, wall seconds, records/s, the extra wall and CPU
milliseconds per record over the baseline (CPU: this process and its children), and the
drops by reason, which are checked against what was generated.

    python bench/code_step.py --from-run DIR [--lang r]

instead takes every answer a grid run's model wrote (the answer calls of DIR's journal,
whether the grid kept the answer or dropped it) through the step (``require: true``),
and prints how many ran and the drops by reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import resource
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tane.curate.stage import run_batch  # noqa: E402
from tane.curate.steps import Fields, make_step  # noqa: E402

PY = {"ok": "values = [{a}, {b}, {c}, 4.5]\nm = sum(values) / len(values)\n"
            "v = sum((x - m) ** 2 for x in values) / (len(values) - 1)\nprint(m, v)",
      "syntax": "def mean(values)\n    return sum(values) / len(values)",
      "error": "values = []\nprint(sum(values) / len(values) + {a})"}
R = {"ok": "x <- c({a}, {b}, {c}, 4.5)\ncat(mean(x), var(x), sd(x), '\\n')",
     "syntax": "x <- c({a}, {b}\nprint(mean(x)",
     "error": "x <- c({a}, {b})\nprint(mean(y_missing))"}
EXPECT = {"ok": None, "syntax": "code:syntax", "error": "code:error"}


def answers(lang: str, n: int) -> tuple[list[Fields], list[str | None]]:
    table = PY if lang == "python" else R
    out, want = [], []
    for i in range(n):
        kind = "syntax" if i % 10 == 3 else "error" if i % 10 == 7 else "ok"
        code = table[kind].format(a=i % 7, b=i % 11 + 1, c=i % 5 + 2)
        out.append(Fields(instruction=f"問{i}", id=str(i),
                          output=f"結論: 次のとおりです。\n```{lang}\n{code}\n```\n"
                                 "ポイント: 以上。"))
        want.append(EXPECT[kind])
    return out, want


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(step, batch):
    c0, t0 = cpu(), time.perf_counter()
    res = run_batch([step], batch)
    return res, time.perf_counter() - t0, cpu() - c0


def bench(lang: str, n: int, workers: int) -> dict:
    batch, want = answers(lang, n)
    _, base_wall, base_cpu = timed(make_step("length", "ja"), batch)
    step = make_step("code", "ja", languages=[lang], workers=workers, timeout_s=10)
    res, wall, used = timed(step, batch)
    got = [r and r[0] for r in res]
    assert got == want, [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5]
    return {"lang": lang, "records": n, "wall_s": round(wall, 2),
            "records_per_s": round(n / wall, 1),
            "extra_wall_ms": round((wall - base_wall) / n * 1000, 1),
            "extra_cpu_ms": round((used - base_cpu) / n * 1000, 1),
            "drops": dict(Counter(g for g in got if g))}


ANSWER_PROMPT = "以下は、質問に対して決められた規約を守って書いた回答の例です。"


def from_run(run_dir: str, lang: str, workers: int) -> dict:
    con = sqlite3.connect(f"file:{Path(run_dir) / 'run.sqlite'}?mode=ro", uri=True)
    batch = []
    for req, resp in con.execute("SELECT request, response FROM calls"):
        prompt = json.loads(req).get("prompt") or ""
        if not prompt.startswith(ANSWER_PROMPT):
            continue
        question = prompt.rsplit("### 質問: ", 1)[-1].removesuffix("### 回答:").strip()
        batch.append(Fields(instruction=question, output=json.loads(resp).get("text") or "",
                            id=str(len(batch))))
    step = make_step("code", "ja", languages=[lang], workers=workers, require=True,
                     timeout_s=10)
    got = [r and r[0] for r in run_batch([step], batch)]
    return {"answers": len(batch), "ran": got.count(None),
            "drops": dict(Counter(g for g in got if g).most_common())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", type=int, default=1000)
    ap.add_argument("--r", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--from-run", metavar="DIR")
    ap.add_argument("--lang", default="r")
    a = ap.parse_args()
    if a.from_run:
        print(from_run(a.from_run, a.lang, a.workers))
        return
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, workers: {a.workers}")
    runs = [("python", a.python)]
    if a.r and shutil.which("Rscript"):
        runs.append(("r", a.r))
    elif a.r:
        print("Rscript not found: the R set is skipped")
    for lang, n in runs:
        if n:
            print(bench(lang, n, a.workers))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
