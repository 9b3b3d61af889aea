"""Agreement statistics of the web review checked against well-kept libraries on the
same data (scikit-learn's cohen_kappa_score, the krippendorff package), Fleiss' kappa
against the worked example of Fleiss (1971) as tabled in the literature, and
``tane review agreement`` on a reviewed run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tane import agreement as ag


def _pairs(seed: int, n: int = 60) -> tuple[list[int], list[int]]:
    rnd = random.Random(seed)
    a = [rnd.randint(1, 5) for _ in range(n)]
    b = [min(5, max(1, x + rnd.choice([-2, -1, 0, 0, 0, 1]))) for x in a]
    return a, b


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_scikit_learn(seed: int, weights) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    a, b = _pairs(seed)
    want = sk.cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights=weights)
    assert ag.cohen_kappa(a, b, [1, 2, 3, 4, 5], weights) == pytest.approx(want, abs=1e-12)


def test_cohen_kappa_on_labels_matches_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    a = ["keep", "drop", "edit", "keep", "keep", "drop", "edit", "keep"]
    b = ["keep", "drop", "keep", "keep", "drop", "drop", "edit", "edit"]
    assert ag.cohen_kappa(a, b) == pytest.approx(sk.cohen_kappa_score(a, b), abs=1e-12)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_alpha_with_missing_ratings_matches_the_package(level: str) -> None:
    kr = pytest.importorskip("krippendorff")
    import numpy as np

    rnd = random.Random(7)
    raters, items = 4, 40
    matrix = np.full((raters, items), np.nan)
    for i in range(items):
        truth = rnd.randint(1, 5)
        for r in range(raters):
            if rnd.random() < 0.7:
                matrix[r, i] = min(5, max(1, truth + rnd.choice([-1, 0, 0, 1])))
    units = [[int(v) for v in matrix[:, i] if not np.isnan(v)] for i in range(items)]
    want = kr.alpha(reliability_data=matrix, level_of_measurement=level,
                    value_domain=[1, 2, 3, 4, 5])
    got = ag.krippendorff_alpha(units, level, [1, 2, 3, 4, 5])
    assert got == pytest.approx(want, abs=1e-9)


def test_fleiss_kappa_on_the_fleiss_1971_example() -> None:
    # 10 subjects, 14 raters, 5 categories: kappa = 0.210 (Fleiss 1971, widely tabled)
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
             [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
             [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    units = [[c for c, n in enumerate(row) for _ in range(n)] for row in table]
    assert ag.fleiss_kappa(units) == pytest.approx(0.20993, abs=1e-4)


def test_spearman_and_percent_agreement_by_hand() -> None:
    assert ag.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ag.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ties get their mean rank: x ranks 1, 2.5, 2.5, 4 -> 4.5 / sqrt(4.5 * 5)
    assert ag.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    stats = pytest.importorskip("scipy.stats")
    x, y = _pairs(4)
    assert ag.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    # item 1: 1 of 1 pair agrees; item 2: 0 of 1; item 3 (three raters): 1 of 3 pairs
    assert ag.percent_agreement([["a", "a"], ["a", "b"], ["a", "a", "b"], ["x"]]) == \
        pytest.approx((1 + 0 + 1 / 3) / 3)


def test_review_agreement_cli_on_a_reviewed_run(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from helpers import run_tane
    from reviewrun import make_run, review_by_two

    run = make_run(tmp_path / "run")
    review_by_two(run)
    res = run_tane("review", "agreement", str(run), "--json")
    assert res.returncode == 0, res.stderr
    figs = json.loads(res.stdout)
    d, q = figs["questions"]["decision"], figs["questions"]["quality"]
    # decision: 3 of 4 agree; po = .75, pe = (3/4*2/4 + 1/4*2/4) = .5, kappa = .5
    assert d["percent"] == pytest.approx(0.75) and d["cohen"] == pytest.approx(0.5)
    # quality by hand, quadratic weights on 1..5 (w = ((i-j)/4)^2): observed
    # disagreement (1/16 + 0 + 1/16 + 0) / 4 = 1/32; expected over the marginals
    # a = {5,2,1,3}, b = {4,2,2,3}: sum of w over the 16 pairs / 16
    a, b = [5, 2, 1, 3], [4, 2, 2, 3]
    de = sum(((x - y) / 4) ** 2 for x in a for y in b) / 16
    assert q["cohen"] == pytest.approx(1 - (1 / 32) / de)
    assert figs["complete"] == 4 and figs["progress"]["alice"]["submitted"] == 4
    # judge scores 5, 2, 4, 3 against the humans' means 4.5, 2, 1.5, 3
    assert figs["judge"]["spearman"] == pytest.approx(ag.spearman([5, 2, 4, 3],
                                                                  [4.5, 2, 1.5, 3]))
    text = run_tane("review", "agreement", str(run))
    assert "decision (nominal, 4 items): percent 0.750, Cohen's kappa 0.500" in text.stdout
