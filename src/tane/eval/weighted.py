"""The probability-weighted grade (as in G-Eval): the expected score over the labels.

A judge that answers ``{"reason": ..., "score": 4}`` writes its grade as one token. When
the server returns the log-probabilities of each token and of its most likely
alternatives (``tane eval grade --logprobs N``), the alternatives at that position that
are labels (``"1"`` … ``"5"``, with or without surrounding spaces; two spellings of one
label add up) give a distribution over the labels, renormalised over those present:

    expected = Σ label · p(label) / Σ p(label)

``label_mass`` is Σ p(label) before renormalising: the share of the judge's probability
that went to labels at all among the alternatives returned (low: few labels among them,
or the server's alternatives were taken before the JSON grammar). The expected score is a
finer grade than the integer (a 4 the judge nearly made a 3 is below 4) and lies in
[1, 5].

Only the 5-point scale: on a 10-point scale "1" may begin "10", so the first digit's
alternatives are not the labels. A grade without one says why in ``expected_missing``:

* ``no_logprobs``: the server returned none (one that ignores the parameter);
* ``no_grade_token``: no ``"score": N`` among the tokens, or the digit shares a token with
  other characters;
* ``no_label``: no label among the alternatives at the grade's position;
* ``scale``: a 10-point grade.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import stats as S

LABELS = (1, 2, 3, 4, 5)
MISSING = {
    "no_logprobs": "the server returned no logprobs",
    "no_grade_token": "no score token among the logprobs",
    "no_label": "no label 1-5 among the most likely tokens at the score",
    "scale": "only on the 5-point scale",
    "unscored": "the grade has no score",
}
_SCORE = re.compile(r'"score"\s*:\s*(\d+)')


def label_of(token: str, labels: tuple[int, ...] = LABELS) -> int | None:
    """The label a token writes (``"4"``, ``" 4"``, ``"4 "``), or None."""
    s = token.strip()
    if s.isascii() and s.isdigit() and int(s) in labels and s == str(int(s)):
        return int(s)
    return None


def expectation(alternatives: list[list[Any]] | list[tuple[str, float]],
                labels: tuple[int, ...] = LABELS) -> tuple[float, float] | None:
    """(expected label, label mass) over ``[token, logprob]`` alternatives at one
    position, renormalised over the labels present; None when no label is there."""
    probs: dict[int, float] = {}
    for token, lp in alternatives:
        lab = label_of(str(token), labels)
        if lab is not None and lp is not None and math.isfinite(float(lp)):
            probs[lab] = probs.get(lab, 0.0) + math.exp(float(lp))
    mass = sum(probs.values())
    if mass <= 0:
        return None
    return sum(lab * p for lab, p in probs.items()) / mass, mass


def grade_position(tokens: list[dict[str, Any]]) -> int | None:
    """The index of the token holding the grade's digit: the last ``"score": N`` in the
    tokens' text, where N is a token of its own (spaces aside)."""
    text, starts = "", []
    for t in tokens:
        starts.append(len(text))
        text += str(t.get("token", ""))
    found = list(_SCORE.finditer(text))
    if not found:
        return None
    at = found[-1].start(1)
    i = max(k for k, s in enumerate(starts) if s <= at)
    return i if label_of(str(tokens[i].get("token", "")), tuple(range(0, 10))) is not None \
        else None


def weighted_grade(logprobs: list[dict[str, Any]] | None, score: int | None,
                   scale: int) -> dict[str, Any]:
    """``{"expected_score", "label_mass", "expected_missing"}`` of one grade."""
    out: dict[str, Any] = {"expected_score": None, "label_mass": None,
                           "expected_missing": None}
    if scale != 5:
        out["expected_missing"] = "scale"
    elif score is None:
        out["expected_missing"] = "unscored"
    elif not logprobs:
        out["expected_missing"] = "no_logprobs"
    else:
        i = grade_position(logprobs)
        if i is None:
            out["expected_missing"] = "no_grade_token"
        else:
            tok = logprobs[i]
            alts = [list(a) for a in tok.get("top") or []]
            if tok.get("token") not in {a[0] for a in alts}:
                alts.append([tok.get("token"), tok.get("logprob")])
            got = expectation(alts)
            if got is None:
                out["expected_missing"] = "no_label"
            else:
                out["expected_score"] = round(got[0], 6)
                out["label_mass"] = round(got[1], 6)
    return out


def expected_section(rows: list[dict[str, Any]], n_boot: int, seed: int
                     ) -> dict[str, Any] | None:
    """One model's probability-weighted grades (one judge, one scale) for the report: the
    mean over items (an item counts when every turn has one) with its bootstrap interval,
    the plain mean of the same items beside it, and the grades without one, by reason.
    None when the grades did not ask for logprobs. A grade scored as a language failure
    counts 1, as its plain score does."""
    asked = [r for r in rows if "expected_score" in r]
    if not asked:
        return None
    by_item: dict[str, list[dict[str, Any]]] = {}
    for r in asked:
        by_item.setdefault(str(r["item_id"]), []).append(r)
    expected, plain = [], []
    missing: Counter[str] = Counter()
    for item in sorted(by_item):
        rs = by_item[item]
        vals = []
        for r in rs:
            e = 1.0 if r.get("language_failure") else r.get("expected_score")
            if e is None:
                missing[str(r.get("expected_missing") or "unscored")] += 1
            else:
                vals.append(float(e))
        if len(vals) == len(rs) and all(r.get("score") is not None for r in rs):
            expected.append(sum(vals) / len(vals))
            plain.append(sum(float(r["score"]) for r in rs) / len(rs))
    masses = [float(r["label_mass"]) for r in asked
              if r.get("label_mass") is not None and not r.get("language_failure")]
    return {**S.bootstrap_mean(expected, n_boot, seed),
            "plain_mean_same_items": sum(plain) / len(plain) if plain else None,
            "grades": len(asked),
            "without": sum(missing.values()),
            "missing": dict(sorted(missing.items())),
            "mean_label_mass": sum(masses) / len(masses) if masses else None}


def missing_words(missing: dict[str, int]) -> str:
    return "; ".join(f"{MISSING.get(k, k)}: {v}" for k, v in missing.items())


def expected_warnings(rep: dict[str, Any], judge_label: Callable[..., str]) -> list[str]:
    """A judge asked for logprobs whose server returned none for any grade of a model
    (``judge_label(name, judge_info)``: how the report names a judge)."""
    out = []
    for g in rep["scores"]:
        none = [m for m, v in g["models"].items() if v.get("expected")
                and v["expected"]["missing"].get("no_logprobs") == v["expected"]["grades"]]
        if none:
            out.append(f"judge {judge_label(g['judge'], rep['judge_info'])}: the grades of "
                       f"{', '.join(none)} asked for logprobs and the server returned none "
                       "(a server that ignores the parameter): no probability-weighted "
                       "grade for them")
    return out
