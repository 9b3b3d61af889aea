"""Statistics for ``tane eval report``: pure functions over plain lists, numpy only.

Every interval is a 95% percentile bootstrap over *items* (an item is one benchmark
question; its turns and both judging orders travel together). Resampling is reproducible:
``numpy.random.default_rng(seed)`` draws one ``(n_boot, n)`` matrix of item indices with
``rng.integers(0, n, size=(n_boot, n))``; row ``r`` is resample ``r``. The interval ends
are ``numpy.quantile(stat, [alpha/2, 1 - alpha/2])`` (linear interpolation between order
statistics). The same seed gives the same intervals on any machine with the same numpy.

Contents:

* :func:`bootstrap_mean` -- a mean with its bootstrap interval;
* :func:`paired_difference` -- model A minus model B on the same items, paired bootstrap;
  "better" only when the interval excludes 0;
* :func:`pairwise_summary` -- win / tie / loss, the adjusted win rate (win + 1/2 tie);
* :func:`position_consistency` -- how often a pairwise verdict survives swapping the order;
* the length-controlled win rate is in :mod:`.lc`;
* :func:`weighted_kappa`, :func:`spearman` -- agreement of two judges;
* :func:`length_stats`, :func:`rate` -- answer lengths and error rates.

Functions return plain dicts of floats/ints (``None`` where a value is undefined) so that
they go straight into ``report.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

ALPHA = 0.05
N_BOOT = 2000
VERDICT_VALUE = {"a": 1.0, "tie": 0.5, "b": 0.0}


# -- small helpers ----------------------------------------------------------------------
def _num(x: float) -> float | None:
    """A JSON-safe float: ``None`` for nan/inf."""
    x = float(x)
    return x if math.isfinite(x) else None


def resample_indices(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """The ``(n_boot, n)`` matrix of item indices every bootstrap here uses."""
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def percentile_interval(stats: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """The percentile interval of bootstrap statistics (nan ones ignored)."""
    stats = np.asarray(stats, dtype=float)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


# -- means and differences ----------------------------------------------------------------
def bootstrap_mean(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                   alpha: float = ALPHA) -> dict[str, Any]:
    """Mean of ``values`` with a percentile bootstrap interval over the values.

    Returns ``{"mean", "lo", "hi", "n"}``; with no values everything but ``n`` is None.
    """
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    means = x[resample_indices(n, n_boot, seed)].mean(axis=1)
    lo, hi = percentile_interval(means, alpha)
    return {"mean": _num(x.mean()), "lo": _num(lo), "hi": _num(hi), "n": n}


def paired_difference(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT,
                      seed: int = 0, alpha: float = ALPHA) -> dict[str, Any]:
    """Mean of ``a[i] - b[i]`` (two models' scores on the same items, same order) with a
    paired bootstrap interval: items are resampled, each keeping both of its scores.

    ``better`` is ``"a"`` when the whole interval is above 0, ``"b"`` when it is below 0,
    else ``None`` (no claim).
    """
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError("paired_difference needs the same items for both models")
    res = bootstrap_mean(xa - xb, n_boot, seed, alpha)
    lo, hi = res["lo"], res["hi"]
    res["better"] = ("a" if lo is not None and lo > 0 else
                     "b" if hi is not None and hi < 0 else None)
    return res


# -- pairwise -------------------------------------------------------------------------------
def pairwise_summary(verdicts: Sequence[str | None], n_boot: int = N_BOOT, seed: int = 0,
                     alpha: float = ALPHA) -> dict[str, Any]:
    """Win / tie / loss of model a against model b from per-item verdicts ``"a"``,
    ``"b"``, ``"tie"`` (``None``: not parsed, left out and counted as ``unparsed``).

    ``win_rate`` is the adjusted win rate ``(wins + ties / 2) / n`` with a bootstrap
    interval over items; ``better`` is ``"a"``/``"b"`` when the interval excludes 0.5.
    """
    vals = [VERDICT_VALUE[v] for v in verdicts if v is not None]
    wins = sum(1 for v in verdicts if v == "a")
    ties = sum(1 for v in verdicts if v == "tie")
    losses = sum(1 for v in verdicts if v == "b")
    ci = bootstrap_mean(vals, n_boot, seed, alpha)
    lo, hi = ci["lo"], ci["hi"]
    return {"n": len(vals), "wins": wins, "ties": ties, "losses": losses,
            "unparsed": len(verdicts) - len(vals),
            "win_rate": ci["mean"], "lo": lo, "hi": hi,
            "better": ("a" if lo is not None and lo > 0.5 else
                       "b" if hi is not None and hi < 0.5 else None)}


def position_consistency(ab: Sequence[str | None], ba: Sequence[str | None]
                         ) -> dict[str, Any]:
    """Share of pairs whose verdict is the same with a shown first (``ab``) and with b
    shown first (``ba``), both in the same vocabulary (which model won). Pairs where
    either order is ``None`` are left out."""
    both = [(x, y) for x, y in zip(ab, ba) if x is not None and y is not None]
    same = sum(1 for x, y in both if x == y)
    return {"n": len(both), "consistent": same,
            "rate": same / len(both) if both else None}


# -- agreement -----------------------------------------------------------------------------
def weighted_kappa(r1: Sequence[int], r2: Sequence[int], categories: Sequence[int],
                   weights: str = "quadratic") -> float | None:
    """Cohen's weighted kappa of two raters over the same items.

    ``categories``: the ordered scale (e.g. ``range(1, 6)``); disagreement weight of
    categories i, j (positions in that list, K of them) is ``((i - j) / (K - 1))**2``
    (quadratic) or ``|i - j| / (K - 1)`` (linear). ``kappa = 1 - sum(w * O) / sum(w * E)``
    with O the observed joint proportions and E the product of the two raters' marginal
    proportions. None when undefined (no items, or E puts all mass on agreement).
    """
    if weights not in ("quadratic", "linear"):
        raise ValueError("weights must be 'quadratic' or 'linear'")
    cats = list(categories)
    k = len(cats)
    pos = {c: i for i, c in enumerate(cats)}
    if len(r1) != len(r2):
        raise ValueError("both raters must rate the same items")
    if not r1 or k < 2:
        return None
    O = np.zeros((k, k))
    for x, y in zip(r1, r2):
        O[pos[x], pos[y]] += 1
    O /= O.sum()
    E = np.outer(O.sum(axis=1), O.sum(axis=0))
    i, j = np.indices((k, k))
    W = np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        W = W ** 2
    expected = float((W * E).sum())
    if expected == 0:
        return None
    return _num(1 - float((W * O).sum()) / expected)


def average_ranks(x: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties given the mean of the ranks they span."""
    a = np.asarray(x, dtype=float)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size)
    sa = a[order]
    i = 0
    while i < a.size:
        j = i
        while j + 1 < a.size and sa[j + 1] == sa[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks (ties averaged).
    None when either side has no spread or fewer than 2 items."""
    if len(x) != len(y):
        raise ValueError("spearman needs paired values")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return _num(float(rx @ ry) / den) if den > 0 else None


# -- descriptive -----------------------------------------------------------------------------
def rate(k: int, n: int) -> float | None:
    """k / n, or None when n is 0."""
    return k / n if n else None


def length_stats(lengths: Sequence[int]) -> dict[str, Any]:
    """n, mean, median, 10th/90th percentile, min, max of answer lengths (characters)."""
    x = np.asarray(lengths, dtype=float)
    if x.size == 0:
        return {"n": 0, "mean": None, "median": None, "p10": None, "p90": None,
                "min": None, "max": None}
    p10, med, p90 = np.quantile(x, [0.1, 0.5, 0.9])
    return {"n": int(x.size), "mean": _num(x.mean()), "median": _num(med),
            "p10": _num(p10), "p90": _num(p90), "min": int(x.min()), "max": int(x.max())}
