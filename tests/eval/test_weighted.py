"""The probability-weighted grade's arithmetic on hand-made logprobs (no model), and the
log-probabilities as the LLM layer asks for them and reads them back."""

from __future__ import annotations

import math

import pytest

from tane.eval.weighted import (expectation, expected_section, grade_position, label_of,
                                weighted_grade)
from tane.llm.base import Completion, GenParams
from tane.llm.logprobs import read_logprobs

ln = math.log


def test_labels_with_or_without_spaces_and_nothing_else() -> None:
    assert [label_of(t) for t in ("1", " 2", "3 ", " 4\n", "5")] == [1, 2, 3, 4, 5]
    assert [label_of(t) for t in ("0", "6", "10", "05", "４", "4.", "", "a")] == [None] * 8


def test_expectation_renormalises_over_the_labels_present() -> None:
    # p: "4" .5, " 3" .2, "5 " .1, "N" .15 (not a label), "0" .05 (not a label)
    alts = [["4", ln(.5)], [" 3", ln(.2)], ["5 ", ln(.1)], ["N", ln(.15)], ["0", ln(.05)]]
    e, mass = expectation(alts)
    assert mass == pytest.approx(.8)
    assert e == pytest.approx((4 * .5 + 3 * .2 + 5 * .1) / .8)  # 3.875
    # two spellings of one label add up: "2" .3 and " 2" .1 against "5" .4
    e, mass = expectation([["2", ln(.3)], [" 2", ln(.1)], ["5", ln(.4)]])
    assert (e, mass) == (pytest.approx((2 * .4 + 5 * .4) / .8), pytest.approx(.8))
    assert expectation([["N", ln(.9)], ["a", ln(.1)]]) is None


def tokens(*pieces: str, top: dict[int, list] | None = None) -> list[dict]:
    return [{"token": p, "logprob": -0.1, "top": (top or {}).get(i, [[p, -0.1]])}
            for i, p in enumerate(pieces)]


def test_the_grade_token_is_the_digit_after_the_last_score_key() -> None:
    toks = tokens('{"', 'reason', '":"', 'score', ' 2', '",', '"', 'score', '":', ' ', '4', '}')
    assert grade_position(toks) == 10
    # the digit glued to other characters cannot be separated from them
    assert grade_position(tokens('{"', 'score', '":4', '}')) is None
    assert grade_position(tokens('{"', 'reason', '":"', 'x', '"}')) is None
    # an escaped "score" inside the reason is not the key
    assert grade_position(tokens('{"reason":"', '\\"score\\": 1', '","score":', '3', '}')) == 3


def test_weighted_grade_of_one_answer_and_why_there_is_none() -> None:
    top = {3: [["4", ln(.6)], ["3", ln(.3)], ["}", ln(.05)]]}
    toks = tokens('{"score', '":', ' ', '4', '}', top={3: top[3]})
    toks[3]["top"] = top[3]
    got = weighted_grade(toks, 4, 5)
    assert got["expected_score"] == pytest.approx((4 * .6 + 3 * .3) / .9, abs=1e-6)
    assert got["label_mass"] == pytest.approx(.9, abs=1e-6)
    assert got["expected_missing"] is None
    # the chosen token counts even when the server left it out of the alternatives
    toks[3]["top"], toks[3]["logprob"] = [["3", ln(.3)]], ln(.6)
    assert weighted_grade(toks, 4, 5)["expected_score"] == pytest.approx(3.3 / .9, abs=1e-6)
    assert weighted_grade(None, 4, 5)["expected_missing"] == "no_logprobs"
    assert weighted_grade([], 4, 5)["expected_missing"] == "no_logprobs"
    assert weighted_grade(toks, 4, 10)["expected_missing"] == "scale"
    assert weighted_grade(toks, None, 5)["expected_missing"] == "unscored"
    assert weighted_grade(tokens('{"score":4}'), 4, 5)["expected_missing"] == "no_grade_token"
    toks[3]["top"], toks[3]["token"] = [["x", -1.0]], "7"
    assert weighted_grade(toks, 4, 5)["expected_missing"] == "no_label"


def test_expected_section_per_model() -> None:
    rows = [{"item_id": "1", "turn": 1, "score": 4, "expected_score": 3.5, "label_mass": .9},
            {"item_id": "2", "turn": 1, "score": 2, "expected_score": 2.5, "label_mass": .7},
            {"item_id": "3", "turn": 1, "score": 5, "expected_score": None,
             "label_mass": None, "expected_missing": "no_logprobs"},
            {"item_id": "4", "turn": 1, "score": 1, "expected_score": 4.2, "label_mass": .5,
             "language_failure": True}]  # scored as a failure: 1, as its plain score
    sec = expected_section(rows, 1000, 0)
    assert sec["mean"] == pytest.approx((3.5 + 2.5 + 1) / 3)
    assert sec["plain_mean_same_items"] == pytest.approx((4 + 2 + 1) / 3)
    assert (sec["n"], sec["grades"], sec["without"]) == (3, 4, 1)
    assert sec["missing"] == {"no_logprobs": 1}
    assert sec["mean_label_mass"] == pytest.approx(.8)
    assert sec["lo"] <= sec["mean"] <= sec["hi"]
    assert expected_section([{"item_id": "1", "score": 3}], 1000, 0) is None


def test_logprobs_are_asked_for_only_when_wanted() -> None:
    plain = GenParams(temperature=0, max_tokens=8)
    assert "logprobs" not in plain.to_dict()  # journal keys of other calls unchanged
    assert "logprobs" not in plain.to_request(chat=True)
    asked = GenParams(temperature=0, max_tokens=8, logprobs=5)
    assert asked.to_dict()["logprobs"] == 5
    req = asked.to_request(chat=True)
    assert (req["logprobs"], req["top_logprobs"]) == (True, 5)
    assert asked.to_request()["logprobs"] == 5
    # a completion carries them through the journal's dict and back
    c = Completion("4", "stop", logprobs=[{"token": "4", "logprob": -0.2, "top": [["4", -0.2]]}])
    assert Completion.from_dict(c.to_dict()).logprobs == c.logprobs
    assert "logprobs" not in Completion("4", "stop").to_dict()


def test_both_answer_shapes_are_read() -> None:
    chat = {"logprobs": {"content": [
        {"token": "4", "logprob": -0.5, "bytes": [52],
         "top_logprobs": [{"token": "4", "logprob": -0.5}, {"token": " 3", "logprob": -1.5}]}]}}
    assert read_logprobs(chat) == [{"token": "4", "logprob": -0.5,
                                    "top": [["4", -0.5], [" 3", -1.5]]}]
    legacy = {"logprobs": {"tokens": ["4", "}"], "token_logprobs": [-0.5, -0.01],
                           "top_logprobs": [{"4": -0.5, "3": -1.5}, {"}": -0.01}]}}
    assert read_logprobs(legacy) == [{"token": "4", "logprob": -0.5,
                                      "top": [["4", -0.5], ["3", -1.5]]},
                                     {"token": "}", "logprob": -0.01, "top": [["}", -0.01]]}]
    assert read_logprobs({"logprobs": None}) is None
    assert read_logprobs({}) is None
    assert read_logprobs({"logprobs": {"content": []}}) is None
