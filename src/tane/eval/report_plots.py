"""PNG plots of ``tane eval report`` (matplotlib, Agg, no pyplot state; the ``report``
extra). Font search and the fallback for labels without a Japanese font are
:mod:`tane.plotting`'s, as for ``tane stats``. Importing this module fails with
ImportError when matplotlib is missing; the report then skips the plots with a note.

* ``scores_<judge>.png``: each model's mean score with its 95% interval;
* ``winrate_<a>_vs_<b>_<judge>.png``: a's adjusted win rate per category (and overall,
  and length-controlled) with 95% intervals, 50% marked.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from ..plotting import Labeler, find_japanese_font, rc, save


def safe_name(text: str) -> str:
    """A file-name part: ASCII letters, digits, ``.``, ``-``, ``_``; anything else ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "x"


def _errbars(values: list[dict[str, Any]]) -> tuple[list[float], list[list[float]]]:
    means = [v["mean"] if v["mean"] is not None else 0.0 for v in values]
    # whiskers from the estimate to each end; an estimate just outside its percentile
    # interval (rounding, or a refitted statistic) draws no whisker on that side
    lo = [max(m - v["lo"], 0.0) if v["lo"] is not None else 0.0 for m, v in zip(means, values)]
    hi = [max(v["hi"] - m, 0.0) if v["hi"] is not None else 0.0 for m, v in zip(means, values)]
    return means, [lo, hi]


def interval_chart(path: Path, title: str, rows: list[tuple[str, dict[str, Any]]],
                   font: dict[str, Any], labeler: Labeler, xlabel: str,
                   xlim: tuple[float, float], mark: float | None = None) -> Path:
    """Horizontal bars (top to bottom in the given order) with 95% interval whiskers."""
    labels = [labeler(k) for k, _ in rows][::-1]
    vals = [v for _, v in rows][::-1]
    means, err = _errbars(vals)
    with matplotlib.rc_context(rc(font)):
        fig = Figure(figsize=(7, max(2.5, 0.45 * len(labels) + 1.3)))
        ax = fig.add_subplot()
        ax.barh(range(len(vals)), means, xerr=err, color="#4C72B0", ecolor="#333333",
                capsize=3)
        ax.set_yticks(range(len(vals)), labels)
        ax.set_xlim(*xlim)
        if mark is not None:
            ax.axvline(mark, color="#C44E52", linestyle="--", linewidth=1)
        for i, v in enumerate(vals):
            if v["mean"] is not None:
                ax.text(xlim[0], i, f" n={v.get('n', '')}", va="center", fontsize=7,
                        color="white")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        return save(fig, path)


def draw(rep: dict[str, Any], out: Path) -> tuple[dict[str, Any], list[Path]]:
    """Every plot of a report into ``out``; returns (font info, paths)."""
    font = dict(find_japanese_font())
    labeler = Labeler(can_cjk=font["family"] is not None)
    if font["family"] is None:
        warnings.warn("no font with Japanese glyphs found: non-ASCII plot labels are drawn "
                      "as ids (#1, #2, ...); see font.label_ids in report.json. "
                      "Install 'tane[report]' (ships IPAexGothic) to draw them.",
                      stacklevel=2)
    for old in list(out.glob("scores_*.png")) + list(out.glob("winrate_*.png")):
        old.unlink()
    paths: list[Path] = []
    used: set[str] = set()

    def unique(stem: str) -> str:
        name, k = f"{stem}.png", 2
        while name in used:
            name, k = f"{stem}_{k}.png", k + 1
        used.add(name)
        return name

    for g in rep["scores"]:
        rows = [(m, v) for m, v in g["models"].items() if v["n"]]
        if not rows:
            continue
        name = unique(f"scores_{safe_name(g['judge'])}_{g['scale']}")
        paths.append(interval_chart(out / name, f"mean score, judge {labeler(g['judge'])} "
                                    f"(1-{g['scale']}, 95% CI)", rows, font, labeler,
                                    "score", (1, g["scale"])))
    for p in rep["pairwise"]:
        if not p["n"]:
            continue
        rows = [(c, {"mean": v["win_rate"], "lo": v["lo"], "hi": v["hi"], "n": v["n"]})
                for c, v in p["by_category"].items() if v["n"]]
        rows.append(("all", {"mean": p["win_rate"], "lo": p["lo"], "hi": p["hi"],
                             "n": p["n"]}))
        lc = p["length_controlled"]
        if lc["win_rate"] is not None:
            rows.append(("all, length-controlled", {"mean": lc["win_rate"], "lo": lc["lo"],
                                                    "hi": lc["hi"], "n": lc["n_items"]}))
        name = unique(f"winrate_{safe_name(p['a'])}_vs_{safe_name(p['b'])}_"
                      f"{safe_name(p['judge'])}")
        paths.append(interval_chart(
            out / name, f"win rate of {labeler(p['a'])} over {labeler(p['b'])} "
            f"(judge {labeler(p['judge'])}, 95% CI)", rows, font, labeler,
            "adjusted win rate (win + tie/2)", (0, 1), mark=0.5))
    font["label_ids"] = dict(labeler.ids)
    return font, paths
