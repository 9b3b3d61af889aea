"""The dataset card of ``tane export`` on a run with web-review submissions: progress,
agreement per question and the judge against the humans, the same figures as the admin
view; a run nobody reviewed in the browser shows none."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette")

from reviewrun import make_run, review_by_two  # noqa: E402

from tane import agreement as ag  # noqa: E402
from tane.export.formats import export  # noqa: E402
from tane.review.web.questions import load  # noqa: E402
from tane.review.web.service import Review  # noqa: E402
from tane.store.review_figures import run_figures  # noqa: E402


def _card(run: Path, out: Path) -> str:
    export(run, "alpaca", out / "data.jsonl")
    return (out / "README.md").read_text(encoding="utf-8")


def _reviewed(run: Path) -> Review:
    return review_by_two(run)


def test_the_card_shows_the_web_reviews_progress_and_agreement(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    review = _reviewed(run)
    text = _card(run, tmp_path / "out")
    section = text.split("### Web review", 1)[1].split("## Known limitations", 1)[0]
    assert "8 submissions; 4 of 4 records complete" in section
    assert "| alice | 4 | 0 | 0 |" in section and "| bob | 4 | 0 | 0 |" in section
    # decision: 3 of 4 agree, kappa (0.75 - 0.5) / (1 - 0.5) = 0.5
    assert "| decision | nominal | 4 | 0.750 | 0.500 |" in section
    # quality: quadratic-weighted kappa by hand (as in test_review_agreement)
    a, b = [5, 2, 1, 3], [4, 2, 2, 3]
    de = sum(((x - y) / 4) ** 2 for x in a for y in b) / 16
    assert f"| quality | ordinal | 4 | 0.500 | {1 - (1 / 32) / de:.3f} |" in section
    rho = ag.spearman([5, 2, 4, 3], [4.5, 2, 1.5, 3])
    assert "`quality` rating on 4 records" in section and f"Spearman {rho:.3f}" in section
    # the card's figures are the admin view's
    figs = run_figures(run)
    assert figs is not None
    assert figs["questions"] == review.figures()["questions"]
    assert figs["judge"] == review.figures()["judge"]


def test_a_run_without_web_reviews_shows_no_agreement(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    text = _card(run, tmp_path / "out1")
    assert "### Web review" not in text and "κ" not in text
    Review(run, ["alice", "bob"], 2, load(None))  # served, nothing submitted yet
    text = _card(run, tmp_path / "out2")
    assert "### Web review" not in text and "κ" not in text
    assert run_figures(run) is None
