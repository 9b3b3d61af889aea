"""``tane eval judge-vs-human``: a run directory (written through the store's own functions,
tests/reviewrun.py) reviewed for real: two reviewers rate and decide in the web review,
their decisions applied; then an Excel/CSV review file exported, edited and imported. The
judge's figures against theirs, checked against scikit-learn and SciPy. No model."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from reviewrun import make_run
from typer.testing import CliRunner

from tane.cli import app
from tane.review import export_review, import_review

JUDGE_DROP = {"stage": "judge", "record_id": "j9", "reason": "low_quality",
              "detail": {"quality": 1, "reason": "短すぎる", "record": {"output": "はい"}},
              "text": "富士山の高さは？"}


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory) -> Path:
    pytest.importorskip("starlette")
    from tane.review.web.questions import load
    from tane.review.web.service import Review

    run = make_run(tmp_path_factory.mktemp("jvh") / "run")  # judge scores 5, 2, 4, 3
    with open(run / "rejected.machine.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(JUDGE_DROP, ensure_ascii=False) + "\n")  # rejected:2, score 1
    review = Review(run, ["alice", "bob"], 2, load(None), include_dropped=True)
    ids = ["r0", "r1", "r2", "r3", "rejected:2"]
    decision = ["keep", "drop", "keep", "keep", "edit"]
    ratings = {"alice": ["5", "2", "1", "3", "2"], "bob": ["4", "2", "2", "3", "1"]}
    for who in ("alice", "bob"):
        for i, rid in enumerate(ids):
            after = dict(review.by_id[rid].current)
            if rid == "rejected:2":
                after["output"] = "3776メートルです。"
            review.save(who, rid, "submit", after,
                        {"decision": decision[i], "quality": ratings[who][i]}, "",
                        review.version(rid))
    review.apply()
    review.db.close()
    # then a spreadsheet review: r3, which the judge kept, is dropped
    exported = export_review(run, run.parent / "review.csv").path
    rows = list(csv.reader(io.StringIO(exported.read_bytes().decode("utf-8-sig"), newline="")))
    st = rows[0].index("status")
    next(r for r in rows if r[0] == "r3")[st] = "drop"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    edited = run.parent / "edited.csv"
    edited.write_bytes(buf.getvalue().encode("utf-8-sig"))
    assert [r["status"] for r in import_review(run, edited).revisions] == ["drop"]
    return run


def tane(*args: str):
    return CliRunner().invoke(app, list(args))


def test_judge_against_the_humans_checked_against_sklearn_and_scipy(reviewed: Path) -> None:
    res = tane("eval", "judge-vs-human", str(reviewed), "--json")
    assert res.exit_code == 0, res.output
    figs = json.loads(res.stdout)
    judge = [5, 2, 4, 3, 1]                   # r0..r3, then the judge's drop
    means = [4.5, 2, 1.5, 3, 1.5]             # alice's and bob's ratings averaged
    r = figs["ratings"]
    assert (r["question"], r["items"]) == ("quality", 5)
    stats = pytest.importorskip("scipy.stats")
    metrics = pytest.importorskip("sklearn.metrics")
    assert r["spearman"] == pytest.approx(stats.spearmanr(judge, means).statistic)
    rounded = [5, 2, 2, 3, 2]                 # the means rounded half up to the scale
    assert r["kappa"] == pytest.approx(metrics.cohen_kappa_score(
        judge, rounded, labels=[1, 2, 3, 4, 5], weights="quadratic"))
    assert (r["drops_reviewed"], r["drops_kept"]) == (1, 1)
    d = figs["decisions"]
    # judged: r0..r3 kept and rejected:2 dropped (the self_instruct drop is not the judge's)
    assert (d["judged"], d["decided"]) == (5, 5)
    assert (d["kept_kept"], d["kept_dropped"], d["dropped_kept"], d["dropped_dropped"]) == \
        (2, 2, 1, 0)                          # r0 r2 | r1 (web) r3 (csv) | rejected:2
    assert d["agreement"] == pytest.approx(2 / 5)
    assert d["judge_drops_kept"] == ["rejected:2"]


def test_the_text_says_the_same_with_counts(reviewed: Path) -> None:
    res = tane("eval", "judge-vs-human", str(reviewed))
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "question 'quality', 5 records" in text and "quadratic-weighted kappa" in text
    assert "the reviewers kept 1 of the 1 judge drops they saw" in text
    assert "5 of 5 judged records decided: agreement 0.400" in text
    assert ("judge kept, humans kept 2, humans dropped 2; judge dropped, humans kept 1, "
            "humans dropped 0") in text
    assert "judge drops the humans kept: rejected:2" in text


def test_no_decisions_or_no_run_is_one_line(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    res = tane("eval", "judge-vs-human", str(run))
    assert res.exit_code == 2
    (line,) = [x for x in " ".join(res.stderr.split()).split("error:")[1:]]
    assert str(run) in line and "no human review decisions" in line
    res = tane("eval", "judge-vs-human", str(tmp_path))
    assert res.exit_code == 2 and "not a run directory" in res.stderr
