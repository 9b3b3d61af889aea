"""``disagreements.xlsx``: the items an expert should look at, written with the same
literal-text cells and font as ``tane review``'s workbook (:mod:`tane.store.sheets`).

Sheets (each with an empty ``note`` column for the expert):

* ``order_flips``: pairs whose verdict changed when the answers swapped places;
* ``judge_scores``: grades two judges scored at least 2 points apart (3 on a 1-10 scale);
* ``judge_verdicts``: pairs one judge gave to a and another to b.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store.sheets import Sheet, write_workbook

TURN_SEP = "\n\n――― turn {n} ―――\n"
WIDTHS = {"item_id": 12, "category": 14, "question": 50, "answer": 60, "answer_a": 60,
          "answer_b": 60, "raw_1": 40, "raw_2": 40, "note": 30}
NOTES = {
    "ab": "verdict with a shown first (which model won)",
    "ba": "verdict with b shown first (which model won)",
    "final": "counted verdict: same in both orders, else tie",
    "note": "free text for the reviewer",
}


def _turns(turns: list[str] | None) -> str:
    if not turns:
        return ""
    parts = [turns[0]] + [TURN_SEP.format(n=i) + t for i, t in enumerate(turns[1:], 2)]
    return "".join(parts)


def write_disagreements(path: Path, m: dict[str, Any]) -> Path:
    items, answers, cat = m["items"], m["answers"], m["category"]

    def question(item_id: str) -> str:
        return _turns((items.get(str(item_id)) or {}).get("turns"))

    def answer(item_id: str, model: str) -> str:
        got = answers.get((str(item_id), model))
        base = (items.get(str(item_id)) or {}).get("baseline") or {}
        if got is None and base.get("model") == model:   # AlpacaEval-style reference output
            return base.get("output") or ""
        return _turns(got)

    flips = Sheet("order_flips", ["item_id", "category", "judge", "a", "b", "ab", "ba", "final",
                                  "len_a", "len_b", "question", "answer_a", "answer_b", "note"],
                  widths=WIDTHS, notes=NOTES)
    for r in m["flipped"]:
        i = r["item_id"]
        flips.rows.append([i, cat.get(i) or r.get("category") or "", r["judge"], r["a"], r["b"],
                           r["ab"], r["ba"], r.get("final") or "", r.get("len_a") or 0,
                           r.get("len_b") or 0, question(i), answer(i, r["a"]),
                           answer(i, r["b"]), ""])
    scores = Sheet("judge_scores", ["item_id", "category", "model", "turn", "judge_1",
                                    "score_1", "judge_2", "score_2", "question", "answer",
                                    "raw_1", "raw_2", "note"], widths=WIDTHS, notes=NOTES)
    for r in m["grades"]:
        i = r["item_id"]
        scores.rows.append([i, cat.get(i) or "", r["model"], r["turn"], r["judge_1"],
                            r["score_1"], r["judge_2"], r["score_2"], question(i),
                            answer(i, r["model"]), r["raw_1"], r["raw_2"], ""])
    verdicts = Sheet("judge_verdicts", ["item_id", "category", "a", "b", "judge_1", "final_1",
                                        "judge_2", "final_2", "question", "answer_a",
                                        "answer_b", "note"], widths=WIDTHS, notes=NOTES)
    for r in m["opposite"]:
        i = r["item_id"]
        verdicts.rows.append([i, cat.get(i) or "", r["a"], r["b"], r["judge_1"], r["final_1"],
                              r["judge_2"], r["final_2"], question(i), answer(i, r["a"]),
                              answer(i, r["b"]), ""])
    return write_workbook(path, [flips, scores, verdicts])
