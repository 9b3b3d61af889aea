"""Time ``tane eval report`` on an AlpacaEval-sized eval directory (805 items, 2 models, 2
judges grading 1-5, one pair compared in both orders) made of synthetic rows whose judge
prefers longer answers by a known amount; print the seconds and the LC fit against the truth.

    python bench/eval_report.py [--items 805] [--n-boot 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from tane.eval.report import write_report


def build(d: Path, n: int, seed: int = 0) -> float:
    """Write the eval directory; returns the true length-controlled win rate."""
    rng = np.random.default_rng(seed)
    theta, beta, gamma = 0.3, 1.0, 0.4
    u = rng.normal(0, 0.5, n)
    len_a = rng.integers(200, 1600, n)
    len_b = rng.integers(200, 1000, n)
    delta = len_a - len_b
    z = delta / delta.std(ddof=1)

    def w(name: str, rows: list[dict]) -> None:
        (d / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                              encoding="utf-8")

    ids = [str(i + 1) for i in range(n)]
    cats = ["writing", "math", "coding", "qa"]
    (d / "eval.json").write_text(json.dumps({"bench": "synthetic", "format": "alpaca_eval",
                                             "lang": "en", "items": n}, ensure_ascii=False),
                                  encoding="utf-8")
    w("items.jsonl", [{"id": i, "category": cats[k % 4], "turns": [f"question {i}"],
                       "reference": None, "eval_aspect": None, "baseline": None}
                      for k, i in enumerate(ids)])
    w("answers.jsonl", [{"item_id": i, "model": m, "turns": ["x" * int(c)],
                         "finish_reason": "stop", "error": None, "chars": int(c)}
                        for i, la, lb in zip(ids, len_a, len_b)
                        for m, c in (("tuned", la), ("base", lb))])
    grades = []
    for judge in ("j1", "j2"):
        for m, shift in (("tuned", 0.4), ("base", 0.0)):
            s = np.clip(np.rint(rng.normal(3 + shift, 1, n)), 1, 5).astype(int)
            grades += [{"item_id": i, "model": m, "judge": judge, "scale": 5, "turn": 1,
                        "score": int(x), "status": "ok", "raw": str(x), "retried": False,
                        "error": None} for i, x in zip(ids, s)]
    w("grades.jsonl", grades)
    comps = []
    for k, i in enumerate(ids):
        v = {}
        for order, pos in (("ab", 1), ("ba", -1)):
            p = 1 / (1 + math.exp(-(theta + beta * math.tanh(z[k]) + gamma * pos + u[k])))
            v[order] = "a" if rng.random() < p else "b"
        comps.append({"item_id": i, "a": "tuned", "b": "base", "judge": "j1",
                      "category": cats[k % 4], "ab": v["ab"], "ba": v["ba"],
                      "ab_level": None, "ba_level": None,
                      "final": v["ab"] if v["ab"] == v["ba"] else "tie",
                      "consistent": v["ab"] == v["ba"], "len_a": int(len_a[k]),
                      "len_b": int(len_b[k]), "status": "ok"})
    w("comparisons.jsonl", comps)
    return float(np.mean(1 / (1 + np.exp(-(theta + u)))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=805)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        truth = build(d, args.items)
        t = time.perf_counter()
        rep = write_report(d, n_boot=args.n_boot)
        secs = time.perf_counter() - t
    p = rep["pairwise"][0]
    lc = p["length_controlled"]
    print(f"write_report: {secs:.1f} s for {args.items} items, n_boot {args.n_boot}")
    if lc.get("withheld"):
        print(f"raw win rate {p['win_rate']:.3f}, truth {truth:.3f}; LC withheld: "
              f"{lc['withheld']}")
        return
    print(f"raw win rate {p['win_rate']:.3f}; LC {lc['win_rate']:.3f} "
          f"[{lc['lo']:.3f}, {lc['hi']:.3f}], truth {truth:.3f}; "
          f"length coef {lc['length_coef']:.2f} (true 1.0), position coef "
          f"{lc['position_coef']:.2f} (true 0.4)")


if __name__ == "__main__":
    main()
