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
* :func:`length_controlled_win_rate` -- the length-controlled win rate (see its docstring
  for how it follows AlpacaEval 2 and where it departs);
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


# -- length-controlled win rate ------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def lc_probability(intercept: float, length_coef: float, z: float | np.ndarray,
                   item_term: float | np.ndarray = 0.0, position_coef: float = 0.0,
                   position: float | np.ndarray = 0.0) -> np.ndarray:
    """The model's probability that a beats b:
    ``sigmoid(intercept + length_coef * tanh(z) + position_coef * position + item_term)``
    with ``z`` the standardized length difference (a minus b)."""
    eta = (intercept + length_coef * np.tanh(np.asarray(z, dtype=float))
           + position_coef * np.asarray(position, dtype=float)
           + np.asarray(item_term, dtype=float))
    return _sigmoid(eta)


def standardize(delta: np.ndarray) -> np.ndarray:
    """``delta / std(delta, ddof=1)``; zeros when there is no spread (as AlpacaEval,
    the difference is scaled but not centred, so 0 keeps meaning "same length")."""
    delta = np.asarray(delta, dtype=float)
    if delta.size < 2:
        return np.zeros_like(delta)
    sd = float(delta.std(ddof=1))
    return delta / sd if sd > 0 else np.zeros_like(delta)


def fit_lc(y: np.ndarray, tz: np.ndarray, pos: np.ndarray, item: np.ndarray,
           n_items: int, item_penalty: float | None = 1.0, ridge: float = 1e-4,
           start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9
           ) -> tuple[np.ndarray, np.ndarray]:
    """Penalized logistic regression by Newton's method (IRLS), numpy only.

    Observation j: target ``y[j]`` in [0, 1] (0.5 for a tie: the log-likelihood
    ``y log p + (1 - y) log(1 - p)`` takes soft targets as they are), features
    ``[1, tz[j], pos[j]]`` with global coefficients ``beta = (intercept, length,
    position)`` and, unless ``item_penalty`` is None, a term ``u[item[j]]`` per item.
    Penalty: ``ridge/2 * |beta|^2 + item_penalty/2 * |u|^2``. The item terms make the
    Hessian an arrow matrix; each step solves it through the Schur complement of the
    diagonal item block, so a step costs O(observations). Returns ``(beta, u)``.
    """
    X = np.column_stack([np.ones_like(tz), tz, pos])
    k = X.shape[1]
    use_u = item_penalty is not None
    beta = np.zeros(k) if start is None else np.array(start[:k], dtype=float)
    u = np.zeros(n_items)
    lam = np.full(k, ridge)

    def objective(b: np.ndarray, uu: np.ndarray) -> float:
        eta = X @ b + (uu[item] if use_u else 0.0)
        # -loglik with soft targets: log(1 + e^eta) - y * eta
        nll = float(np.sum(np.logaddexp(0.0, eta) - y * eta))
        pen = 0.5 * float(lam @ (b * b))
        if use_u:
            pen += 0.5 * item_penalty * float(uu @ uu)
        return nll + pen

    obj = objective(beta, u)
    for _ in range(max_iter):
        eta = X @ beta + (u[item] if use_u else 0.0)
        p = _sigmoid(eta)
        r = p - y
        s = np.maximum(p * (1 - p), 1e-12)
        g_b = X.T @ r + lam * beta
        A = (X * s[:, None]).T @ X + np.diag(lam)
        if use_u:
            g_u = np.bincount(item, weights=r, minlength=n_items) + item_penalty * u
            D = np.bincount(item, weights=s, minlength=n_items) + item_penalty
            B = np.stack([np.bincount(item, weights=s * X[:, c], minlength=n_items)
                          for c in range(k)])            # k x n_items
            BD = B / D
            d_b = np.linalg.solve(A - BD @ B.T, g_b - BD @ g_u)
            d_u = (g_u - B.T @ d_b) / D
        else:
            d_b = np.linalg.solve(A, g_b)
            d_u = np.zeros(n_items)
        step = 1.0
        while True:   # damped Newton: halve until the objective does not rise
            nb, nu = beta - step * d_b, u - step * d_u
            new = objective(nb, nu)
            if new <= obj + 1e-12 or step < 1e-8:
                break
            step /= 2
        beta, u = nb, nu
        done = abs(obj - new) < tol * (1 + abs(new)) and float(np.max(np.abs(step * d_b))) < 1e-7
        obj = new
        if done:
            break
    return beta, u


def _lc_arrays(items: Sequence[Any], observations: Sequence[tuple[Any, float, float]],
               delta_len: dict[Any, float]):
    """Item ids -> indices; observations (item, y, position) as arrays."""
    index = {it: i for i, it in enumerate(items)}
    item = np.array([index[o[0]] for o in observations], dtype=np.int64)
    y = np.array([o[1] for o in observations], dtype=float)
    pos = np.array([o[2] for o in observations], dtype=float)
    delta = np.array([float(delta_len[it]) for it in items], dtype=float)
    return item, y, pos, delta


def length_controlled_win_rate(observations: Sequence[tuple[Any, str, float]],
                               delta_len: dict[Any, float], n_boot: int = N_BOOT,
                               seed: int = 0, alpha: float = ALPHA,
                               item_penalty: float | None = 1.0, ridge: float = 1e-4
                               ) -> dict[str, Any]:
    """Length-controlled win rate of model a over model b: the win rate the judge would
    give if both answers had the same length.

    ``observations``: ``(item_id, verdict, position)`` with verdict ``"a"``/``"b"``/``"tie"``
    (``None`` ones are skipped) and position ``+1`` when a was shown first, ``-1`` when b
    was, ``0`` when unknown (a verdict already merged over both orders). ``delta_len``:
    item id -> ``len(answer a) - len(answer b)`` in characters.

    The model, for observation j of item i::

        P(a wins) = sigmoid(theta + beta * tanh(delta_i / sd(delta)) + gamma * position_j + u_i)

    fitted by penalized maximum likelihood (:func:`fit_lc`), and the reported win rate
    sets the length difference and the position to 0 and averages over items::

        LC = mean_i sigmoid(theta + u_i)

    How this follows AlpacaEval 2's ``length_controlled_v1`` GLM: the length term is
    ``tanh`` of the length difference divided by its standard deviation (not centred);
    the win rate is the model's prediction at zero difference averaged over the
    instructions; a tie is the soft target 0.5 (AlpacaEval maps a draw to preference
    1.5, i.e. 0.5 on its 0-1 scale).

    Where it departs:

    * *Per-item terms.* AlpacaEval's ``instruction_difficulty`` is one number per prompt,
      estimated once across many models on its own 805 prompts and multiplied by a
      per-model coefficient. Our benchmarks are the user's own and two models are
      compared, so that term cannot be estimated. It is replaced by a free term ``u_i``
      per item, shrunk towards 0 by an L2 penalty ``item_penalty`` (a Gaussian prior with
      variance ``1/item_penalty`` on the logit scale; ``None`` drops the item terms).
      Each item is judged in both orders, so an item has two observations and ``u_i``
      is partly identified by whether the judge is consistent on it.
    * *Position term.* Both orders enter as separate observations with ``gamma`` for the
      first-shown answer; AlpacaEval randomises the order and has no such term. The
      reported rate sets the position to 0, the average of the two orders.
    * *Regularisation.* AlpacaEval fits an L1-penalised model with its penalty chosen by
      5-fold cross-validation and pulls the weights towards its baseline's with
      length-"gamed" copies of the baseline's outputs. Here: a fixed small ridge on
      ``theta, beta, gamma`` (``ridge``, so perfectly separated data still converge) and
      the item penalty; no cross-validation, no gamed data.
    * *Uncertainty.* An item bootstrap (refit on each resample, items keeping both
      orders; the length scale is recomputed on each resample) gives the interval;
      AlpacaEval reports no interval for the LC rate.

    Returns ``{"win_rate", "lo", "hi", "n_items", "n_obs", "length_coef",
    "position_coef", "intercept", "raw_win_rate", "item_penalty", "ridge"}``; win rates
    are in [0, 1].
    """
    obs = [(it, VERDICT_VALUE[v], float(p)) for it, v, p in observations if v is not None]
    items = sorted({o[0] for o in obs}, key=lambda x: str(x))
    out: dict[str, Any] = {"win_rate": None, "lo": None, "hi": None, "n_items": len(items),
                           "n_obs": len(obs), "length_coef": None, "position_coef": None,
                           "intercept": None, "raw_win_rate": None,
                           "item_penalty": item_penalty, "ridge": ridge}
    if not items:
        return out
    item, y, pos, delta = _lc_arrays(items, obs, delta_len)
    n = len(items)
    tz = np.tanh(standardize(delta))[item]
    beta, u = fit_lc(y, tz, pos, item, n, item_penalty, ridge)
    out.update(win_rate=_num(np.mean(_sigmoid(beta[0] + u))),
               intercept=_num(beta[0]), length_coef=_num(beta[1]),
               position_coef=_num(beta[2]), raw_win_rate=_num(y.mean()))
    # bootstrap: resampled items keep all their observations; a copy is a new item
    order = np.argsort(item, kind="stable")
    item, y, pos = item[order], y[order], pos[order]
    counts = np.bincount(item, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    stats = np.empty(n_boot)
    for r, row in enumerate(resample_indices(n, n_boot, seed)):
        c = counts[row]
        new_item = np.repeat(np.arange(n), c)
        ends = np.cumsum(c)
        rows = np.repeat(first[row], c) + np.arange(ends[-1]) - np.repeat(ends - c, c)
        tz_b = np.tanh(standardize(delta[row]))[new_item]
        b_b, u_b = fit_lc(y[rows], tz_b, pos[rows], new_item, n, item_penalty, ridge,
                          start=beta, max_iter=50, tol=1e-7)
        stats[r] = np.mean(_sigmoid(b_b[0] + u_b))
    lo, hi = percentile_interval(stats, alpha)
    out.update(lo=_num(lo), hi=_num(hi))
    return out


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
