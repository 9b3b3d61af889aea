"""``tane eval report``'s length-controlled win rates, run in a subprocess over eval
directories written here from the file contract: several models against one baseline get
the joint variant, one model the minimal one with a warning when the lengths differ a
lot, and ``--difficulty`` a table variant (a bad table is one line, nothing written)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from helpers import run_tane


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def evaldir(root: Path, n: int, models: dict[str, float], seed: int = 0,
            base_first: bool = False) -> Path:
    """``n`` items; each model in ``models`` (name -> its answers' length as a share of
    the baseline's) compared with ``base`` in both orders, verdicts drawn from a model
    with a shared item difficulty and a length effect. ``base_first``: the same verdicts
    written with base as ``a`` (``--a base --b MODEL``)."""
    rng = np.random.default_rng(seed)
    d = root / ("ev_base_first" if base_first else "ev")
    d.mkdir()
    (d / "eval.json").write_text(json.dumps({
        "bench": "bundled:elyza_ja", "format": "elyza", "lang": "ja", "items": n,
        "models": {m: {"where": "embedded", "model": "SmolLM2-135M", "license": None}
                   for m in [*models, "base"]},
        "judges": {"j": {"where": "embedded", "model": "judge-model", "license": None}},
        "steps": {}}), encoding="utf-8")
    _jsonl(d / "items.jsonl", [{"id": str(i), "category": None, "turns": [f"質問{i}"]}
                               for i in range(n)])
    u = rng.normal(0, 1.0, n)
    len_b = rng.integers(300, 900, n)
    comps = []
    for m, share in models.items():
        len_a = np.maximum(5, (len_b * share + rng.normal(0, 80, n)).astype(int))
        z = np.tanh((len_a - len_b) / np.std(len_a - len_b, ddof=1))
        for i in range(n):
            v = ["a" if rng.random() < 1 / (1 + math.exp(-(1.2 * z[i] + u[i] + pos * 0.2)))
                 else "b" for pos in (1, -1)]
            la, lb = int(len_a[i]), int(len_b[i])
            if base_first:  # the same judgements seen from base's side
                v = [{"a": "b", "b": "a"}[x] for x in v]
                m_a, m_b, la, lb = "base", m, lb, la
            else:
                m_a, m_b = m, "base"
            comps.append({"item_id": str(i), "a": m_a, "b": m_b, "judge": "j",
                          "category": None, "ab": v[0], "ba": v[1],
                          "final": v[0] if v[0] == v[1] else "tie", "consistent": v[0] == v[1],
                          "len_a": la, "len_b": lb, "status": "ok"})
    _jsonl(d / "comparisons.jsonl", comps)
    return d


def report(d: Path, *extra: str):
    res = run_tane("eval", "report", str(d), "--n-boot", "1000", *extra)
    return res


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_models_against_one_baseline_share_their_item_difficulties(tmp_path):
    d = evaldir(tmp_path, 40, {"m1": 1.0, "m2": 0.5, "m3": 1.3})
    res = report(d)
    assert res.returncode == 0, res.stderr
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    assert len(rep["pairwise"]) == 3
    for p in rep["pairwise"]:
        lc = p["length_controlled"]
        assert lc["variant"] == "joint" and lc["models_in_fit"] == ["m1", "m2", "m3"]
        assert "difficulty" in lc["assumes"] and lc["difficulty_coef"] is not None
        assert 0 <= lc["lo"] <= lc["win_rate"] <= lc["hi"] <= 1
    md = (d / "report" / "report.md").read_text(encoding="utf-8")
    assert "variant joint (item difficulties fitted jointly from m1, m2, m3" in md
    assert "times as long" not in res.stderr


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_shared_a_side_is_fitted_jointly_too_and_turned_back(tmp_path):
    """``--a base --b m1`` and ``--a base --b m2``: the pairs share their a side; they are
    fitted from base's opponents' side and turned back, so base's rate over m1 is one
    minus m1's rate over base from the same judgements written the other way round."""
    fwd = evaldir(tmp_path, 40, {"m1": 0.6, "m2": 1.2}, seed=3)
    back = evaldir(tmp_path, 40, {"m1": 0.6, "m2": 1.2}, seed=3, base_first=True)
    for d in (fwd, back):
        res = report(d)
        assert res.returncode == 0, res.stderr
    get = {d: {(p["a"], p["b"]): p["length_controlled"] for p in json.loads(
        (d / "report" / "report.json").read_text(encoding="utf-8"))["pairwise"]}
        for d in (fwd, back)}
    for m in ("m1", "m2"):
        f, b = get[fwd][(m, "base")], get[back][("base", m)]
        assert b["variant"] == "joint" and b["models_in_fit"] == ["m1", "m2"]
        assert b["win_rate"] == pytest.approx(1 - f["win_rate"], abs=1e-6)
        assert b["lo"] == pytest.approx(1 - f["hi"], abs=1e-6)
        assert b["length_coef"] == pytest.approx(-f["length_coef"], abs=1e-6)
        assert b["raw_win_rate"] == pytest.approx(1 - f["raw_win_rate"], abs=1e-9)


def test_one_short_model_is_the_minimal_variant_and_warned_about(tmp_path):
    d = evaldir(tmp_path, 40, {"terse": 0.3})
    res = report(d)
    assert res.returncode == 0, res.stderr
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    lc = rep["pairwise"][0]["length_controlled"]
    assert lc["variant"] == "minimal" and lc["models_in_fit"] == ["terse"]
    assert lc["length_ratio"] < 0.6
    assert math.isfinite(lc["length_coef"]) and abs(lc["length_coef"]) < 5
    (w,) = [w for w in rep["warnings"] if "times as long" in w]
    assert "outside 0.6-1.6" in w and "minimal" in w
    assert "times as long" in " ".join(res.stderr.split())
    md = (d / "report" / "report.md").read_text(encoding="utf-8")
    assert "variant minimal (AlpacaEval's length_controlled_minimal" in md


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_difficulty_table_gives_the_table_variant(tmp_path):
    d = evaldir(tmp_path, 40, {"m1": 0.8})
    table = tmp_path / "difficulty.jsonl"
    _jsonl(table, [{"item_id": str(i), "difficulty": math.sin(i)} for i in range(40)])
    res = report(d, "--difficulty", str(table))
    assert res.returncode == 0, res.stderr
    rep = json.loads((d / "report" / "report.json").read_text(encoding="utf-8"))
    lc = rep["pairwise"][0]["length_controlled"]
    assert lc["variant"] == "table" and lc["difficulty_coef"] is not None
    assert rep["difficulty_table"] == str(table)


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_bad_difficulty_table_is_one_line_and_writes_nothing(tmp_path):
    d = evaldir(tmp_path, 40, {"m1": 0.8})
    table = tmp_path / "difficulty.jsonl"
    cases = [
        ([{"item_id": str(i), "difficulty": 0.1} for i in range(39)],
         ["difficulty.jsonl", "item_id", "no difficulty for item '39'"]),
        ([{"item_id": "0", "difficulty": 0.1}, {"item_id": "1", "difficulty": "hard"}],
         ["difficulty.jsonl:2", "difficulty", "not a finite number"]),
        ([{"item_id": "0"}], ["difficulty.jsonl:1", "difficulty", "missing"]),
    ]
    for rows, words in cases:
        _jsonl(table, rows)
        res = report(d, "--difficulty", str(table))
        assert res.returncode == 2, res.stderr
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1, res.stderr
        for w in words:
            assert w in lines[0], (w, lines[0])
        assert not (d / "report").exists()
