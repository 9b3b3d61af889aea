"""tane's length-controlled win rate against AlpacaEval 2.0's published leaderboard.

    python bench/lc_alpacaeval.py DATA LEADERBOARD_CSV [--n-boot 1000]
        [--reference-python PYTHON] [--official-boot 100] [--official-models 8]

DATA holds AlpacaEval's per-model annotation files as its repository lays them out,
``results/<model>/weighted_alpaca_eval_gpt4_turbo/annotations.json``; LEADERBOARD_CSV is
``src/alpaca_eval/leaderboards/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv``
from the same repository. Neither is shipped with tane.

Every model with an annotation file (the baseline ``gpt4_1106_preview`` against itself
left out) is one pair against the baseline, all fitted together as one eval directory
would be: an item is one instruction, its verdict the annotator's preference (draws 0.5),
its length difference ``len(model) - len(baseline)`` in characters, position unknown (0).
For each of tane's variants (``joint``: difficulties fitted from all the models;
``minimal``: no difficulty term) the bench prints, against the leaderboard's
``length_controlled_winrate``: the mean and largest absolute difference, how many models
are within 2 points, Spearman's rho, how often the leaderboard's value lies in tane's 95%
interval, and the median interval width.

With ``--reference-python`` (a Python with the ``alpaca_eval`` package), the same file runs
there as ``--official`` and calls ``alpaca_eval.metrics.glm_winrate.
get_length_controlled_winrate`` on the same annotations: ``length_controlled_minimal``,
and ``length_controlled_noreg`` (v1's formula without the gamed rows) given tane's joint
difficulties, since the package downloads its own difficulties and gamed rows from the
Hugging Face hub, which the bench does not reach. ``--official-boot`` resamples the items
of ``--official-models`` models (spread over the leaderboard) and reruns the official
procedure on each resample, for interval widths to set beside tane's.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
BASELINE = "gpt4_1106_preview"


# -- reading AlpacaEval's files (both sides) ----------------------------------------------
def read_annotations(path: Path) -> list[tuple[str, float, int, int]]:
    """(item key, preference in [0, 1] for the model, len baseline, len model) per row
    with a preference; a repeated instruction gets '#2', '#3' appended."""
    rows, seen = [], {}
    for r in json.loads(path.read_text(encoding="utf-8")):
        key = r["instruction"]
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        pref = r.get("preference")
        if pref is None:
            continue
        pref = float(pref)
        if not pref >= 0 or pref != pref:
            continue
        y = 0.5 if pref == 0 else pref - 1.0
        rows.append((key, y, len(r["output_1"] or ""), len(r["output_2"] or "")))
    return rows


def model_files(data: Path) -> dict[str, Path]:
    out = {}
    for d in sorted((data / "results").iterdir()):
        f = d / ANNOTATOR / "annotations.json"
        if f.is_file() and d.name != BASELINE:
            out[d.name] = f
    return out


def read_leaderboard(path: Path) -> dict[str, dict[str, float]]:
    with open(path, encoding="utf-8", newline="") as f:
        return {r[""]: {"lc": float(r["length_controlled_winrate"]),
                        "raw": float(r["win_rate"]), "avg_length": float(r["avg_length"])}
                for r in csv.DictReader(f)}


# -- the official side (runs under --reference-python) --------------------------------------
def official(spec_path: Path) -> None:
    """Read a spec (models, difficulty per item key, bootstrap plan), print JSON results."""
    import pandas as pd
    import alpaca_eval.metrics.glm_winrate as G

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    diff = spec["difficulty"]
    tmp = Path(spec["tmp"])
    out: dict[str, dict] = {}

    def run(df: pd.DataFrame, keys: list[str], glm: str) -> float:
        gamed = pd.DataFrame({"model": "none", "index": range(len(keys)), "preference": 0.5,
                              "std_delta_len": 0.0, "not_gamed_baseline": False,
                              "instruction_difficulty": [diff.get(k, 0.0) for k in keys]})
        path = tmp / "df_gamed.csv"
        gamed.to_csv(path, index=False)
        G.hf_hub_download = lambda **kw: str(path)   # the hub is out of reach: local file
        df = df.reset_index(drop=True)
        m = G.get_length_controlled_winrate(df, glm_name=glm, save_weights_dir=None,
                                            is_warn_extreme_changes=False)
        return float(m["length_controlled_winrate"])

    for name, path in spec["models"].items():
        raw = pd.read_json(path)
        raw = raw[raw["preference"].notna() & (raw["preference"].astype(float) >= 0)]
        keys, seen = [], {}
        for ins in raw["instruction"]:
            seen[ins] = seen.get(ins, 0) + 1
            keys.append(ins if seen[ins] == 1 else f"{ins}#{seen[ins]}")
        df = raw[["instruction", "output_1", "output_2", "generator_1", "generator_2",
                  "annotator", "preference"]].copy()
        df["generator_2"] = name
        res = {"minimal": run(df, keys, "length_controlled_minimal"),
               "noreg": run(df, keys, "length_controlled_noreg")}
        if name in spec["boot_models"]:
            rng = np.random.default_rng(0)
            t0, vals = time.time(), []
            for _ in range(spec["n_boot"]):
                idx = rng.integers(0, len(df), len(df))
                vals.append(run(df.iloc[idx], [keys[i] for i in idx], "length_controlled_noreg"))
            lo, hi = np.quantile(vals, [0.025, 0.975])
            res.update(boot_lo=float(lo), boot_hi=float(hi), boot_s=time.time() - t0)
        out[name] = res
    print(json.dumps(out, ensure_ascii=False))


# -- tane's side -----------------------------------------------------------------------------
def spearman(x, y) -> float:
    from tane.eval.stats import spearman as sp
    return sp(list(x), list(y))


def summary(label: str, names: list[str], lb: dict, res: dict) -> dict:
    err = np.array([res[m]["win_rate"] * 100 - lb[m]["lc"] for m in names])
    inside = sum(res[m]["lo"] * 100 <= lb[m]["lc"] <= res[m]["hi"] * 100 for m in names)
    width = np.array([(res[m]["hi"] - res[m]["lo"]) * 100 for m in names])
    s = {"variant": label, "models": len(names), "mean_abs": float(np.abs(err).mean()),
         "mean_signed": float(err.mean()), "max_abs": float(np.abs(err).max()),
         "within_2": int((np.abs(err) <= 2).sum()),
         "spearman": spearman([res[m]["win_rate"] for m in names], [lb[m]["lc"] for m in names]),
         "coverage": inside / len(names), "median_width": float(np.median(width))}
    print(f"{label:>28}: {s['models']} models; |tane - leaderboard| mean {s['mean_abs']:.2f}, "
          f"signed mean {s['mean_signed']:+.2f}, largest {s['max_abs']:.2f} points; within 2 "
          f"points {s['within_2']}/{s['models']}; Spearman {s['spearman']:.3f}; leaderboard "
          f"inside the 95% interval {inside}/{len(names)}; median width {s['median_width']:.1f}")
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("leaderboard", type=Path, nargs="?")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--reference-python")
    ap.add_argument("--official-boot", type=int, default=100)
    ap.add_argument("--official-models", type=int, default=8)
    ap.add_argument("--official", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.official:
        official(a.data)
        return
    if a.leaderboard is None:
        ap.error("give the leaderboard CSV after DATA")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from tane.eval import lc as L

    lb = read_leaderboard(a.leaderboard)
    files = {m: f for m, f in model_files(a.data).items() if m in lb}
    pairs, lens = {}, {}
    for m, f in files.items():
        rows = read_annotations(f)
        pair = L.Pair.from_targets([(k, y, 0.0) for k, y, _, _ in rows],
                                   {k: l2 - l1 for k, _, l1, l2 in rows})
        pairs[m] = pair
        lens[m] = (float(np.mean([r[3] for r in rows])), float(np.mean([r[2] for r in rows])))
    names = sorted(pairs, key=lambda m: -lb[m]["lc"])
    print(f"{len(names)} models with annotations and a leaderboard row; baseline {BASELINE}; "
          f"n_boot {a.n_boot}; length prior sd {L.LENGTH_PRIOR_SD}")
    t0 = time.time()
    diff = L.item_difficulty(pairs)
    t_diff = time.time() - t0
    joint, minimal = {}, {}
    t0 = time.time()
    for m in names:
        joint[m] = L.fit_pair(pairs[m], diff, "joint", n_boot=a.n_boot)
    t_joint = time.time() - t0
    for m in names:
        minimal[m] = L.fit_pair(pairs[m], None, "minimal", n_boot=a.n_boot)
    print(f"difficulty fit {t_diff:.1f} s; joint fits with bootstrap {t_joint:.1f} s")
    raw_err = max(abs(float(pairs[m].y.mean()) * 100 - lb[m]["raw"]) for m in names)
    print(f"raw win rate: largest |tane - leaderboard| {raw_err:.2f} points (same data check)")
    short = [m for m in names if lens[m][0] / lens[m][1] < 0.6]
    rest = [m for m in names if m not in short]
    for label, group in (("all", names), ("ratio < 0.6", short), ("ratio >= 0.6", rest)):
        summary(f"joint, {label}", group, lb, joint)
        summary(f"minimal, {label}", group, lb, minimal)
    print(f"raw win rate Spearman against the leaderboard's LC: "
          f"{spearman([lb[m]['raw'] for m in names], [lb[m]['lc'] for m in names]):.3f}")
    ref = None
    if a.reference_python:
        step = max(1, len(names) // a.official_models)
        boot_models = names[::step][:a.official_models]
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "spec.json"
            spec.write_text(json.dumps({"models": {m: str(files[m]) for m in names},
                                        "difficulty": diff, "tmp": tmp,
                                        "boot_models": boot_models,
                                        "n_boot": a.official_boot}, ensure_ascii=False),
                            encoding="utf-8")
            t0 = time.time()
            proc = subprocess.run([a.reference_python, __file__, str(spec), "--official"],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"the official side failed:\n{proc.stderr[-3000:]}")
            ref = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"official alpaca_eval side {time.time() - t0:.0f} s")
        d_min = [abs(minimal[m]["win_rate"] * 100 - ref[m]["minimal"]) for m in names]
        d_joint = [abs(joint[m]["win_rate"] * 100 - ref[m]["noreg"]) for m in names]
        print(f"tane minimal vs official length_controlled_minimal: mean |diff| "
              f"{np.mean(d_min):.2f}, largest {max(d_min):.2f} points")
        print(f"tane joint vs official length_controlled_noreg (same difficulties): mean |diff| "
              f"{np.mean(d_joint):.2f}, largest {max(d_joint):.2f} points")
        off = [abs(ref[m]["noreg"] - lb[m]["lc"]) for m in names]
        print(f"official length_controlled_noreg vs leaderboard: mean |diff| {np.mean(off):.2f}, "
              f"largest {max(off):.2f}; Spearman "
              f"{spearman([ref[m]['noreg'] for m in names], [lb[m]['lc'] for m in names]):.3f}")
        print("\n| model | length ratio | leaderboard LC | tane joint [95%] | width | official "
              "noreg bootstrap [95%] | width | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        ratios = []
        for m in boot_models:
            j, r = joint[m], ref[m]
            w_t, w_o = (j["hi"] - j["lo"]) * 100, r["boot_hi"] - r["boot_lo"]
            ratios.append(w_t / w_o)
            print(f"| {m} | {lens[m][0] / lens[m][1]:.2f} | {lb[m]['lc']:.1f} | "
                  f"{j['win_rate'] * 100:.1f} [{j['lo'] * 100:.1f}, {j['hi'] * 100:.1f}] | "
                  f"{w_t:.1f} | {r['noreg']:.1f} [{r['boot_lo']:.1f}, {r['boot_hi']:.1f}] | "
                  f"{w_o:.1f} | {w_t / w_o:.2f} |")
        print(f"\nwidth ratio tane / official bootstrap: median {np.median(ratios):.2f}, "
              f"range {min(ratios):.2f}-{max(ratios):.2f}")
    print("\n| model | length ratio | raw | leaderboard LC | tane joint [95%] | tane minimal |"
          + (" official minimal | official noreg |" if ref else ""))
    print("|---|---|---|---|---|---|" + ("---|---|" if ref else ""))
    for m in names:
        j, mi = joint[m], minimal[m]
        line = (f"| {m} | {lens[m][0] / lens[m][1]:.2f} | {lb[m]['raw']:.1f} | {lb[m]['lc']:.1f} "
                f"| {j['win_rate'] * 100:.1f} [{j['lo'] * 100:.1f}, {j['hi'] * 100:.1f}] "
                f"| {mi['win_rate'] * 100:.1f} |")
        if ref:
            line += f" {ref[m]['minimal']:.1f} | {ref[m]['noreg']:.1f} |"
        print(line)


if __name__ == "__main__":
    main()
