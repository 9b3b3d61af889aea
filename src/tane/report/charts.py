"""PNG charts for ``tane stats`` (matplotlib, Agg, no pyplot state; the ``report`` extra).

The font search and label fallback live in :mod:`tane.plotting` (shared with
``tane eval report``).

Japanese labels need a font with Japanese glyphs. In order:

1. a system font that covers Japanese (``fc-list :lang=ja``, or a known family matplotlib
   already sees: Noto Sans CJK JP, IPAexGothic, Hiragino, Yu Gothic, ...);
2. IPAexGothic from the ``matplotlib-fontja`` package (a dependency of the ``report``
   extra; its font file is used directly, the package is not imported, so matplotlib's
   global settings are left alone);
3. none: non-ASCII labels are drawn as ids (``#1``, ``#2``, ...) with a warning; the id ->
   label mapping is in report.json (``font.label_ids``) and in the printed tables.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..plotting import Labeler as _Labeler
from ..plotting import find_japanese_font
from ..plotting import rc as _rc
from ..plotting import save as _save

__all__ = ["bar_chart", "draw_all", "find_japanese_font", "histogram"]


def bar_chart(path: Path, title: str, counts: list[tuple[str, int]], font: dict[str, Any],
              labeler: _Labeler, xlabel: str = "count") -> Path:
    labels = [labeler(k) for k, _ in counts][::-1]
    values = [v for _, v in counts][::-1]
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(7, max(2.5, 0.35 * len(labels) + 1.2)))
        ax = fig.add_subplot()
        ax.barh(range(len(values)), values, color="#4C72B0")
        ax.set_yticks(range(len(values)), labels)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v}", va="center", fontsize=8)
        return _save(fig, path)


def histogram(path: Path, title: str, values: list[int], unit: str,
              font: dict[str, Any]) -> Path:
    with matplotlib.rc_context(_rc(font)):
        fig = Figure(figsize=(7, 4))
        ax = fig.add_subplot()
        bins = min(30, max(5, len(set(values))))
        ax.hist(values, bins=bins, color="#55A868", edgecolor="white")
        ax.set_xlabel(f"length ({unit})")
        ax.set_ylabel("records")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        return _save(fig, path)


def draw_all(st, out_dir: Path) -> tuple[dict[str, Any], list[Path]]:
    """Every chart of a DatasetStats into out_dir; returns (font info, paths)."""
    font = dict(find_japanese_font())
    labeler = _Labeler(can_cjk=font["family"] is not None)
    if font["family"] is None:
        warnings.warn("no font with Japanese glyphs found: non-ASCII chart labels are drawn "
                      "as ids (#1, #2, ...); see font.label_ids in report.json. "
                      "Install 'tane[report]' (ships IPAexGothic) to draw them.",
                      stacklevel=2)
    rep = st.report
    paths: list[Path] = []

    def top(d: dict[str, int], n: int = 25) -> list[tuple[str, int]]:
        return list(d.items())[:n]

    # a distribution of one value is no chart: tane stats prints it as a line
    for key in ("method", "language", "category"):
        d = rep["counts"][key]
        if len(d) > 1:
            paths.append(bar_chart(out_dir / f"counts_{key}.png", f"records by {key}",
                                   top(d), font, labeler))
    for lang, per in st.lengths_raw.items():
        unit = rep["lengths"][lang]["unit"]
        for f, vals in per.items():
            if vals and any(vals):
                paths.append(histogram(out_dir / f"length_{lang}_{f}.png",
                                       f"{f} length ({lang}, {unit})", vals, unit, font))
    lv = rep["leading_verbs"]
    if len(lv["ja"]["top"]) > 1:
        paths.append(bar_chart(out_dir / "verbs_ja.png",
                               f"final predicates (ja, {lv['ja']['method']})",
                               [(x["verb"], x["count"]) for x in lv["ja"]["top"]],
                               font, labeler))
    if len(lv["en"]["top"]) > 1:
        paths.append(bar_chart(out_dir / "verbs_en.png", "leading verbs (en, heuristic)",
                               [(x["verb"], x["count"]) for x in lv["en"]["top"]],
                               font, labeler))
    if len(lv["en"]["top_verb_object"]) > 1:
        paths.append(bar_chart(out_dir / "verb_object_en.png",
                               "leading verb + object (en, heuristic)",
                               [(x["pair"], x["count"]) for x in lv["en"]["top_verb_object"]],
                               font, labeler))
    drops = rep["drops"]["rejected_by_reason"]
    if not drops:
        merged: dict[str, int] = {}
        for stage in (rep["drops"].get("stats_json_by_stage") or {}).values():
            for k, v in stage.items():
                merged[k] = merged.get(k, 0) + int(v)
        drops = dict(sorted(merged.items(), key=lambda kv: -kv[1]))
    if len(drops) > 1:  # over_target is not among them: no quality drop
        paths.append(bar_chart(out_dir / "drop_reasons.png", "drops by reason",
                               top(drops), font, labeler))
    font["label_ids"] = dict(labeler.ids)
    return font, paths
