"""Agreement statistics of a human review, in plain Python (checked against scikit-learn,
statsmodels and ``krippendorff`` in the tests). Used by the web review's figures
(:mod:`tane.store.review_figures`), ``tane review agreement`` and the dataset card.

``units`` is a list of items, each the list of values its raters gave (missing ratings
are simply absent). Categories are compared as given; ``scale`` (sorted values) sets the
distance between ordered categories, so a rating 1 vs 5 weighs 16 times 1 vs 2.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Hashable, Sequence


def percent_agreement(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Mean over items with two or more ratings of the share of rater pairs that agree."""
    shares = []
    for vals in units:
        n = len(vals)
        if n < 2:
            continue
        same = sum(c * (c - 1) for c in Counter(vals).values())
        shares.append(same / (n * (n - 1)))
    return sum(shares) / len(shares) if shares else None


def _weight(i: int, j: int, k: int, weights: str | None) -> float:
    if weights == "quadratic":
        return ((i - j) / (k - 1)) ** 2 if k > 1 else 0.0
    if weights == "linear":
        return abs(i - j) / (k - 1) if k > 1 else 0.0
    return 0.0 if i == j else 1.0


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable],
                scale: Sequence[Hashable] | None = None,
                weights: str | None = None) -> float | None:
    """Cohen's kappa of two raters over the same items (``weights``: None, "linear" or
    "quadratic", with categories in the order of ``scale``)."""
    if len(a) != len(b) or not a:
        return None
    cats = list(scale) if scale is not None else sorted(set(a) | set(b), key=str)
    idx = {c: i for i, c in enumerate(cats)}
    k, n = len(cats), len(a)
    obs = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b):
        obs[idx[x]][idx[y]] += 1
    ra = [sum(row) for row in obs]
    rb = [sum(obs[i][j] for i in range(k)) for j in range(k)]
    do = sum(_weight(i, j, k, weights) * obs[i][j] for i in range(k) for j in range(k)) / n
    de = sum(_weight(i, j, k, weights) * ra[i] * rb[j]
             for i in range(k) for j in range(k)) / (n * n)
    if de == 0:
        return None  # both raters gave one and the same value throughout
    return 1 - do / de


def fleiss_kappa(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa over the items rated by the most common number of raters (it needs
    the same number on every item; the others are left out)."""
    sizes = Counter(len(v) for v in units if len(v) >= 2)
    if not sizes:
        return None
    m = sizes.most_common(1)[0][0]
    rows = [Counter(v) for v in units if len(v) == m]
    cats = sorted({c for r in rows for c in r}, key=str)
    n = len(rows)
    p = [sum(r[c] for r in rows) / (n * m) for c in cats]
    pbar = sum((sum(r[c] ** 2 for c in cats) - m) / (m * (m - 1)) for r in rows) / n
    pe = sum(x * x for x in p)
    return None if pe == 1 else (pbar - pe) / (1 - pe)


def krippendorff_alpha(units: Sequence[Sequence[Any]], level: str = "nominal",
                       scale: Sequence[Any] | None = None) -> float | None:
    """Krippendorff's alpha (``level``: nominal, ordinal or interval), missing ratings
    allowed; items with fewer than two ratings do not count."""
    units = [list(v) for v in units if len(v) >= 2]
    if not units:
        return None
    cats = list(scale) if scale is not None else sorted({x for v in units for x in v},
                                                        key=str)
    idx = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    coin = [[0.0] * k for _ in range(k)]
    for vals in units:
        m = len(vals)
        cnt = Counter(idx[x] for x in vals)
        for c, nc in cnt.items():
            for d, nd in cnt.items():
                coin[c][d] += (nc * (nd - (c == d))) / (m - 1)
    nc = [sum(row) for row in coin]
    n = sum(nc)
    if n <= 1:
        return None

    def delta(c: int, d: int) -> float:
        if level == "nominal":
            return 0.0 if c == d else 1.0
        if level == "interval":
            return (float(cats[c]) - float(cats[d])) ** 2
        lo, hi = min(c, d), max(c, d)
        return (sum(nc[lo:hi + 1]) - (nc[lo] + nc[hi]) / 2) ** 2

    do = sum(coin[c][d] * delta(c, d) for c in range(k) for d in range(k))
    de = sum(nc[c] * nc[d] * delta(c, d) for c in range(k) for d in range(k))
    if de == 0:
        return None
    return 1 - (n - 1) * do / de


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank)."""
    if len(x) != len(y) or len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _ranks(v: Sequence[float]) -> list[float]:
    order = sorted(range(len(v)), key=v.__getitem__)
    ranks = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
