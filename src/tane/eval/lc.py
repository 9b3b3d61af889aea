"""Length-controlled win rates for ``tane eval report``: numpy only.

The question: what would the judge's win rate of model a over model b be if both answered
at the same length? A logistic model of each verdict is fitted and its prediction at zero
length difference is averaged over the items. For observation j (item i, one judging
order) of model a against b::

    P(a wins) = sigmoid(theta + beta * tanh(delta_i / sd(delta)) + gamma * position_j
                        + phi * d_i)

``delta_i`` is ``len(a) - len(b)`` in characters, scaled by its standard deviation over the
items but not centred (0 keeps meaning "same length"); ``position_j`` is +1 when a was
shown first, -1 when b was, 0 when unknown; ``d_i`` is the item's difficulty. A tie is the
soft target 0.5. The rate is ``LC = mean_i sigmoid(theta + phi * d_i)``.

Variants (``length_controlled.variant`` in report.json):

* ``joint`` -- several models compared with the same baseline by the same judge on the
  same items: the difficulties ``d_i`` are estimated once from all of them
  (:func:`item_difficulty`), then held fixed while each model's own ``theta, beta,
  gamma, phi`` are fitted. This is the structure of AlpacaEval 2's
  ``length_controlled_v1``, without its "gamed" verbose/concise copies of the baseline.
* ``table`` -- the same, with the difficulties read from a table the user supplies.
* ``minimal`` -- one model against its baseline: no difficulty term (``phi = 0``), which
  is AlpacaEval's ``length_controlled_minimal``. It assumes every item is equally hard for
  the model relative to the baseline; with answers much shorter or longer than the
  baseline's (length ratio outside 0.6-1.6) it is biased, and the report warns.

Regularisation. A judge that prefers one model on every item separates the data: without
a penalty the intercept and the length slope run to infinity, and the slope takes the
win rate with it. The length slope ``beta`` has a Gaussian prior with standard deviation
:data:`LENGTH_PRIOR_SD` (an L2 penalty ``beta^2 / (2 sd^2)``), the other coefficients a
negligible ridge, so separation is taken up by the intercept and the slope stays finite
and sane. AlpacaEval instead uses an L1 penalty chosen by cross-validation and pulls
``beta`` towards the slope that fits length-gamed copies of its baseline; tane has no such
copies of the user's baseline.

Intervals: a 95% percentile bootstrap over the items (an item keeps both its orders; the
length scale is recomputed on each resample; the difficulties stay fixed, as AlpacaEval
holds its own fixed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import ALPHA, N_BOOT, VERDICT_VALUE, percentile_interval, resample_indices

LENGTH_PRIOR_SD = 1.5   # prior standard deviation of the length slope (module doc)
RIDGE = 1e-4            # penalty on every other coefficient
ITEM_PENALTY = 1.0      # prior precision of an item's difficulty in the joint fit

ASSUMES = {
    "minimal": ("every item equally hard for the model relative to the baseline; the "
                "judge's preference moves with the length difference through one slope"),
    "joint": ("an item's difficulty is shared by the models compared with the same "
              "baseline, estimated from all of them together; one length slope per model"),
    "table": ("an item's difficulty is the value in the table given; one length slope "
              "per model"),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def fit_logistic(X: np.ndarray, y: np.ndarray, penalty: np.ndarray,
                 w: np.ndarray | None = None, item: np.ndarray | None = None,
                 n_items: int = 0, item_penalty: float = ITEM_PENALTY,
                 start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-9
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Penalised logistic regression with soft targets, by damped Newton steps.

    Minimises ``sum_j w_j (log(1 + e^eta_j) - y_j eta_j) + sum_c penalty_c coef_c^2 / 2
    (+ item_penalty |u|^2 / 2)`` with ``eta = X @ coef (+ u[item])``; ``y`` in [0, 1].
    With ``item`` each observation also gets its item's free term ``u``; the Hessian is
    then an arrow matrix, solved through the Schur complement of the diagonal item block
    (a step costs O(observations x columns^2)). Returns ``(coef, u)``.
    """
    n, k = X.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    lam = np.asarray(penalty, dtype=float)
    coef = np.zeros(k) if start is None else np.array(start, dtype=float)
    u = np.zeros(n_items)
    use_u = item is not None

    def objective(c: np.ndarray, uu: np.ndarray) -> float:
        eta = X @ c + (uu[item] if use_u else 0.0)
        val = float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta))) + 0.5 * float(lam @ (c * c))
        return val + (0.5 * item_penalty * float(uu @ uu) if use_u else 0.0)

    obj = objective(coef, u)
    for _ in range(max_iter):
        p = _sigmoid(X @ coef + (u[item] if use_u else 0.0))
        r = w * (p - y)
        s = np.maximum(w * p * (1 - p), 1e-12)
        g = X.T @ r + lam * coef
        A = (X * s[:, None]).T @ X + np.diag(lam)
        if use_u:
            g_u = np.bincount(item, weights=r, minlength=n_items) + item_penalty * u
            D = np.bincount(item, weights=s, minlength=n_items) + item_penalty
            B = np.stack([np.bincount(item, weights=s * X[:, c], minlength=n_items)
                          for c in range(k)])
            BD = B / D
            d_c = np.linalg.solve(A - BD @ B.T, g - BD @ g_u)
            d_u = (g_u - B.T @ d_c) / D
        else:
            d_c, d_u = np.linalg.solve(A, g), np.zeros(n_items)
        step = 1.0
        while True:
            nc, nu = coef - step * d_c, u - step * d_u
            new = objective(nc, nu)
            if new <= obj + 1e-12 or step < 1e-8:
                break
            step /= 2
        coef, u = nc, nu
        done = (abs(obj - new) < tol * (1 + abs(new))
                and float(np.max(np.abs(step * d_c), initial=0.0)) < 1e-7)
        obj = new
        if done:
            break
    return coef, u


# -- one compared pair --------------------------------------------------------------------
@dataclass
class Pair:
    """One model against its baseline, ready to fit: ``items`` (ids, sorted as text),
    per observation its item's index, target and position, per item the length
    difference."""

    items: list[Any]
    item: np.ndarray
    y: np.ndarray
    pos: np.ndarray
    delta: np.ndarray

    @classmethod
    def build(cls, observations: Sequence[tuple[Any, str | None, float]],
              delta_len: Mapping[Any, float]) -> Pair:
        """From ``(item_id, verdict, position)`` (verdict ``"a"``/``"b"``/``"tie"``;
        ``None`` skipped) and item id -> ``len(a) - len(b)``."""
        return cls.from_targets([(it, VERDICT_VALUE[v], p) for it, v, p in observations
                                 if v is not None], delta_len)

    @classmethod
    def from_targets(cls, observations: Sequence[tuple[Any, float, float]],
                     delta_len: Mapping[Any, float]) -> Pair:
        """From ``(item_id, target, position)`` with the target a's share of the win in
        [0, 1] (a judge's probability, or 1 / 0.5 / 0 for a verdict)."""
        items = sorted({o[0] for o in observations}, key=str)
        index = {it: i for i, it in enumerate(items)}
        return cls(items, np.array([index[o[0]] for o in observations], dtype=np.int64),
                   np.array([float(o[1]) for o in observations], dtype=float),
                   np.array([float(o[2]) for o in observations], dtype=float),
                   np.array([float(delta_len[it]) for it in items], dtype=float))

    def tz(self, delta: np.ndarray | None = None) -> np.ndarray:
        """``tanh(delta / sd(delta))`` per item (zeros without spread)."""
        d = self.delta if delta is None else delta
        sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
        return np.tanh(d / sd) if sd > 0 else np.zeros_like(d)


def _penalty(k: int, length_prior_sd: float) -> np.ndarray:
    pen = np.full(k, RIDGE)
    pen[1] = 1.0 / length_prior_sd ** 2
    return pen


def _design(tz_items: np.ndarray, item: np.ndarray, pos: np.ndarray,
            d_items: np.ndarray | None) -> np.ndarray:
    cols = [np.ones(item.size), tz_items[item], pos]
    if d_items is not None:
        cols.append(d_items[item])
    return np.column_stack(cols)


def _lc(coef: np.ndarray, d_items: np.ndarray | None) -> float:
    """``mean_i sigmoid(theta + phi d_i)``: the win rate at zero length difference."""
    if d_items is None:
        return float(_sigmoid(np.array([coef[0]]))[0])
    return float(np.mean(_sigmoid(coef[0] + coef[3] * d_items)))


def fit_pair(pair: Pair, difficulty: Mapping[Any, float] | None = None,
             variant: str | None = None, n_boot: int = N_BOOT, seed: int = 0,
             alpha: float = ALPHA, length_prior_sd: float = LENGTH_PRIOR_SD
             ) -> dict[str, Any]:
    """The length-controlled rate of one pair with its bootstrap interval.

    ``difficulty``: item id -> difficulty (every item of the pair must have one), or None
    for the minimal variant. ``variant`` names it in the result (default ``"minimal"``
    without difficulties, ``"joint"`` with them). Win rates are in [0, 1].
    """
    variant = variant or ("minimal" if difficulty is None else "joint")
    n = len(pair.items)
    out: dict[str, Any] = {
        "variant": variant, "assumes": ASSUMES[variant], "win_rate": None, "lo": None,
        "hi": None, "n_items": n, "n_obs": int(pair.y.size), "intercept": None,
        "length_coef": None, "position_coef": None, "difficulty_coef": None,
        "raw_win_rate": None, "length_prior_sd": length_prior_sd}
    if n == 0:
        return out
    d_items = None
    if difficulty is not None:
        d_items = np.array([float(difficulty[it]) for it in pair.items])
    X = _design(pair.tz(), pair.item, pair.pos, d_items)
    pen = _penalty(X.shape[1], length_prior_sd)
    coef, _ = fit_logistic(X, pair.y, pen)
    out.update(win_rate=_num(_lc(coef, d_items)), intercept=_num(coef[0]),
               length_coef=_num(coef[1]), position_coef=_num(coef[2]),
               difficulty_coef=_num(coef[3]) if d_items is not None else None,
               raw_win_rate=_num(pair.y.mean()))
    # bootstrap: resampled items keep all their observations; a copy is a new item
    order = np.argsort(pair.item, kind="stable")
    item, y, pos = pair.item[order], pair.y[order], pair.pos[order]
    counts = np.bincount(item, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    stats = np.empty(n_boot)
    for r, row in enumerate(resample_indices(n, n_boot, seed)):
        c = counts[row]
        new_item = np.repeat(np.arange(n), c)
        ends = np.cumsum(c)
        rows = np.repeat(first[row], c) + np.arange(ends[-1]) - np.repeat(ends - c, c)
        d_b = d_items[row] if d_items is not None else None
        Xb = _design(pair.tz(pair.delta[row]), new_item, pos[rows], d_b)
        cb, _ = fit_logistic(Xb, y[rows], pen, start=coef, max_iter=50, tol=1e-7)
        stats[r] = _lc(cb, d_b)
    lo, hi = percentile_interval(stats, alpha)
    out.update(lo=_num(lo), hi=_num(hi))
    return out


# -- several models against one baseline ----------------------------------------------------
def item_difficulty(pairs: Mapping[str, Pair], item_penalty: float = ITEM_PENALTY,
                    length_prior_sd: float = LENGTH_PRIOR_SD) -> dict[Any, float]:
    """Each item's difficulty estimated jointly from several models against one baseline.

    One fit over all the pairs' observations: each model has its own intercept, length
    slope and position term, every item one term ``u_i`` shared by all models (prior
    precision ``item_penalty``); ``d_i`` is ``u_i`` centred on its mean. An item on which
    every model beats the baseline comes out easy (high), one that every model loses
    hard (low). AlpacaEval estimates its ``instruction_difficulty`` the same way (its own
    penalty: L1 by cross-validation).
    """
    names = sorted(pairs)
    all_items = sorted({it for p in pairs.values() for it in p.items}, key=str)
    gindex = {it: i for i, it in enumerate(all_items)}
    blocks, ys, items = [], [], []
    k = 3 * len(names)
    for m, name in enumerate(names):
        p = pairs[name]
        g = np.array([gindex[it] for it in p.items], dtype=np.int64)
        X = np.zeros((p.y.size, k))
        X[:, 3 * m:3 * m + 3] = _design(p.tz(), p.item, p.pos, None)
        blocks.append(X)
        ys.append(p.y)
        items.append(g[p.item])
    X = np.vstack(blocks)
    pen = np.tile(_penalty(3, length_prior_sd), len(names))
    _, u = fit_logistic(X, np.concatenate(ys), pen, item=np.concatenate(items),
                        n_items=len(all_items), item_penalty=item_penalty)
    u = u - u.mean()
    return {it: float(u[i]) for it, i in gindex.items()}


def fit_models(pairs: Mapping[str, Pair], difficulty: Mapping[Any, float] | None = None,
               n_boot: int = N_BOOT, seed: int = 0, alpha: float = ALPHA,
               length_prior_sd: float = LENGTH_PRIOR_SD) -> dict[str, dict[str, Any]]:
    """Every model's length-controlled rate against the shared baseline.

    With ``difficulty`` (a table): the ``table`` variant. Else with two or more models:
    the ``joint`` variant (:func:`item_difficulty`). With one model: ``minimal``. Each
    result also lists ``models_in_fit``, the models the difficulties came from.
    """
    if difficulty is not None:
        variant, diff = "table", difficulty
    elif len(pairs) >= 2:
        variant, diff = "joint", item_difficulty(pairs, length_prior_sd=length_prior_sd)
    else:
        variant, diff = "minimal", None
    out = {}
    for name, p in pairs.items():
        res = fit_pair(p, diff, variant, n_boot, seed, alpha, length_prior_sd)
        res["models_in_fit"] = sorted(pairs) if variant == "joint" else [name]
        out[name] = res
    return out
