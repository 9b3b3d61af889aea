"""tane.eval.stats against values computed independently here: a plain-Python bootstrap on
the documented resampling draw, hand-computed kappas, ranks and LC formulas, and the LC fit
recovering a known length effect from synthetic preferences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tane.eval import stats as S


def plain_quantile(sorted_vals: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default), by hand."""
    h = (len(sorted_vals) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (h - lo) * (sorted_vals[hi] - sorted_vals[lo])


def plain_bootstrap(values: list[float], n_boot: int, seed: int) -> tuple[float, float]:
    """The documented draw: one (n_boot, n) matrix from default_rng(seed); each row is a
    resample. Means and the percentile interval in plain Python."""
    idx = np.random.default_rng(seed).integers(0, len(values), size=(n_boot, len(values)))
    means = []
    for row in idx.tolist():
        total = 0.0
        for i in row:
            total += values[i]
        means.append(total / len(row))
    means.sort()
    return plain_quantile(means, 0.025), plain_quantile(means, 0.975)


SCORES = [3, 4, 2, 5, 5, 1, 3, 4, 4, 2, 3, 5, 4, 3, 2, 4, 5, 3, 1, 4]


def test_bootstrap_mean_matches_a_plain_bootstrap():
    res = S.bootstrap_mean(SCORES, n_boot=1000, seed=7)
    lo, hi = plain_bootstrap(SCORES, 1000, 7)
    assert res["n"] == 20
    assert res["mean"] == pytest.approx(sum(SCORES) / 20)
    assert res["lo"] == pytest.approx(lo, abs=1e-12)
    assert res["hi"] == pytest.approx(hi, abs=1e-12)
    assert res["lo"] < res["mean"] < res["hi"]
    # the same seed gives the same interval; another seed another one
    assert S.bootstrap_mean(SCORES, n_boot=1000, seed=7) == res
    spread = [s + 0.001 * i for i, s in enumerate(SCORES)]   # no tied resample means
    assert (S.bootstrap_mean(spread, n_boot=1000, seed=8)["lo"]
            != S.bootstrap_mean(spread, n_boot=1000, seed=7)["lo"])


def test_bootstrap_mean_empty():
    assert S.bootstrap_mean([]) == {"mean": None, "lo": None, "hi": None, "n": 0}


def test_paired_difference_is_the_bootstrap_of_the_item_differences():
    a = SCORES
    b = [max(1, s - (1 if i % 3 else 0)) for i, s in enumerate(SCORES)]
    diffs = [x - y for x, y in zip(a, b)]
    res = S.paired_difference(a, b, n_boot=1500, seed=3)
    lo, hi = plain_bootstrap(diffs, 1500, 3)
    assert res["mean"] == pytest.approx(sum(diffs) / len(diffs))
    assert (res["lo"], res["hi"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    # a is better on many items and never worse: the interval excludes 0
    assert res["lo"] > 0 and res["better"] == "a"
    assert S.paired_difference(b, a, n_boot=1500, seed=3)["better"] == "b"


def test_paired_difference_makes_no_claim_when_the_interval_holds_zero():
    a = [3, 4, 2, 5, 3, 4]
    b = [4, 3, 2, 4, 4, 4]     # differences -1, 1, 0, 1, -1, 0: mean 0
    res = S.paired_difference(a, b, n_boot=1000, seed=0)
    assert res["mean"] == 0 and res["lo"] < 0 < res["hi"] and res["better"] is None
    with pytest.raises(ValueError):
        S.paired_difference([1, 2], [1])


def test_pairwise_summary_counts_and_adjusted_win_rate():
    verdicts = ["a", "a", "b", "tie", None, "a", "tie", "b"]
    res = S.pairwise_summary(verdicts, n_boot=1000, seed=1)
    assert (res["n"], res["wins"], res["ties"], res["losses"], res["unparsed"]) == (7, 3, 2, 2, 1)
    assert res["win_rate"] == pytest.approx((3 + 0.5 * 2) / 7)
    lo, hi = plain_bootstrap([1, 1, 0, 0.5, 1, 0.5, 0], 1000, 1)
    assert res["lo"] == pytest.approx(lo) and res["hi"] == pytest.approx(hi)
    assert res["better"] is None
    assert S.pairwise_summary(["a"] * 30 + ["tie"] * 5, n_boot=1000)["better"] == "a"
    assert S.pairwise_summary(["b"] * 30, n_boot=1000)["better"] == "b"


def test_position_consistency():
    ab = ["a", "a", "b", "tie", None, "b"]
    ba = ["a", "b", "b", "a", "a", None]
    assert S.position_consistency(ab, ba) == {"n": 4, "consistent": 2, "rate": 0.5}
    assert S.position_consistency([None], ["a"])["rate"] is None


# -- agreement ------------------------------------------------------------------------------
def _ratings(confusion: list[list[int]]) -> tuple[list[int], list[int]]:
    r1, r2 = [], []
    for i, row in enumerate(confusion, 1):
        for j, count in enumerate(row, 1):
            r1 += [i] * count
            r2 += [j] * count
    return r1, r2


def test_weighted_kappa_by_hand():
    """Confusion matrix [[4,1,0],[1,3,1],[0,1,4]], 15 items, marginals 5/5/5 on both sides
    (expected proportions 1/9 per cell). Quadratic weights 0, 1/4, 1: observed
    disagreement 4 * 1/4 / 15 = 1/15, expected 4 * 1/4 / 9 + 2 / 9 = 1/3, kappa = 0.8.
    Linear weights 0, 1/2, 1: observed 2/15, expected 4/9, kappa = 0.7."""
    r1, r2 = _ratings([[4, 1, 0], [1, 3, 1], [0, 1, 4]])
    assert S.weighted_kappa(r1, r2, [1, 2, 3]) == pytest.approx(0.8)
    assert S.weighted_kappa(r1, r2, [1, 2, 3], "linear") == pytest.approx(0.7)


def test_weighted_kappa_unequal_marginals_by_hand():
    """[[2,1],[0,1]] on a two-point scale (both weightings equal the unweighted kappa):
    p_o = 3/4; marginals rater 1 (3/4, 1/4), rater 2 (1/2, 1/2); p_e = 3/8 + 1/8 = 1/2;
    kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5."""
    r1, r2 = _ratings([[2, 1], [0, 1]])
    assert S.weighted_kappa(r1, r2, [1, 2]) == pytest.approx(0.5)
    assert S.weighted_kappa(r1, r2, [1, 2], "linear") == pytest.approx(0.5)
    # on a 1-5 scale with unused categories the weights use the whole scale
    assert S.weighted_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], range(1, 6)) == 1.0
    assert S.weighted_kappa([3, 3], [3, 3], range(1, 6)) is None   # no spread: undefined
    assert S.weighted_kappa([], [], range(1, 6)) is None


def test_spearman_with_ties_by_hand():
    """x = 1,2,2,3 -> ranks 1, 2.5, 2.5, 4; y = 1,3,2,2 -> ranks 1, 4, 2.5, 2.5. Centred:
    (-1.5, 0, 0, 1.5) and (-1.5, 1.5, 0, 0); rho = 2.25 / sqrt(4.5 * 4.5) = 0.5."""
    assert list(S.average_ranks([1, 2, 2, 3])) == [1, 2.5, 2.5, 4]
    assert S.spearman([1, 2, 2, 3], [1, 3, 2, 2]) == pytest.approx(0.5)
    assert S.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert S.spearman([1, 1, 1], [1, 2, 3]) is None


def test_length_stats_and_rate():
    st = S.length_stats([10, 20, 30, 40, 50])
    assert st["n"] == 5 and st["mean"] == 30 and st["median"] == 30
    assert st["p10"] == pytest.approx(14.0) and st["p90"] == pytest.approx(46.0)
    assert (st["min"], st["max"]) == (10, 50)
    assert S.length_stats([])["mean"] is None
    assert S.rate(1, 4) == 0.25 and S.rate(0, 0) is None
