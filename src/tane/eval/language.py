"""Wrong-language answers on a Japanese benchmark (``tane eval report``).

A Japanese question answered in English or Chinese is a failure that LLM judges often
miss. Every answer (its turns together) gets its Japanese share by curation's rules
(:func:`tane.curate.steps.script.japanese_shares`: kana + kanji among the letters, code
blocks and URLs left out, a Latin word weighing two letters), the figure Shaberi reports
as "JA %". An answer is flagged when it has at least :data:`MIN_LETTERS` letters and

* its Japanese share is below ``ja_min`` (default :data:`JA_MIN`, curation's
  ``min_japanese``): English, or mostly English; or
* its kana share is below :data:`MIN_KANA` (curation's ``min_kana``): kanji without kana,
  i.e. Chinese;

unless the question asks for English (curation's ``english_ok_if`` words: 英語, 翻訳 ...).

The report counts the flags per model. With ``--ja-min`` they are also scored as
failures: every graded turn of a flagged answer gets the lowest score of its scale, and a
flagged answer loses a pairwise comparison to an unflagged one (its final verdict; two
flagged answers keep the judge's). What describes the judge stays the judge's own:
parse-failure rates, agreement between judges, position consistency, order flips, and
the length-controlled rate, which models the judge's verdicts in each order.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..curate.steps.script import asks_for_english, japanese_shares

JA_MIN = 0.4
MIN_KANA = 0.05
MIN_LETTERS = 10


def flag_answers(answers: list[dict[str, Any]], items: dict[str, dict[str, Any]],
                 ja_min: float = JA_MIN) -> dict[tuple[str, str], dict[str, Any]]:
    """(item id, model) -> ``{"japanese_share", "kana_share", "letters", "flag"}`` for
    every answer with text; ``flag`` is None, ``"low_japanese"`` or ``"low_kana"``."""
    out = {}
    for r in answers:
        turns = r.get("turns")
        if r.get("error") or not turns:
            continue
        item_id = str(r["item_id"])
        ja, kana, n = japanese_shares("\n".join(t or "" for t in turns))
        question = "\n".join(str(t) for t in (items.get(item_id) or {}).get("turns") or [])
        flag = None
        if n >= MIN_LETTERS and not asks_for_english(question):
            flag = "low_japanese" if ja < ja_min else "low_kana" if kana < MIN_KANA else None
        out[(item_id, r["model"])] = {"japanese_share": round(ja, 4),
                                      "kana_share": round(kana, 4), "letters": n,
                                      "flag": flag}
    return out


def language_section(flags: dict[tuple[str, str], dict[str, Any]], ja_min: float,
                     scored: bool) -> dict[str, Any]:
    """Per model: answers measured, flagged (by reason), the mean Japanese share and the
    flagged item ids."""
    per: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for (item, model), f in flags.items():
        per[model].append((item, f))
    models = {}
    for model in sorted(per):
        fs = per[model]
        flagged = sorted((i for i, f in fs if f["flag"]), key=str)
        models[model] = {
            "answers": len(fs), "flagged": len(flagged),
            "low_japanese": sum(1 for _, f in fs if f["flag"] == "low_japanese"),
            "low_kana": sum(1 for _, f in fs if f["flag"] == "low_kana"),
            "mean_japanese_share": sum(f["japanese_share"] for _, f in fs) / len(fs),
            "flagged_items": flagged}
    return {"ja_min": ja_min, "min_kana": MIN_KANA, "scored_as_failures": scored,
            "models": models}


def score_as_failures(grades: list[dict[str, Any]] | None,
                      comps: list[dict[str, Any]] | None,
                      flags: dict[tuple[str, str], dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
    """Copies of the grade and comparison rows with flagged answers scored as failures
    (module doc); each changed row says so in ``language_failure``."""
    def flagged(item: Any, model: str) -> bool:
        return bool((flags.get((str(item), model)) or {}).get("flag"))

    new_grades = None
    if grades is not None:
        new_grades = []
        for r in grades:
            if flagged(r["item_id"], r["model"]):
                r = r | {"score": 1, "status": "ok", "language_failure": True}
            new_grades.append(r)
    new_comps = None
    if comps is not None:
        new_comps = []
        for r in comps:
            fa, fb = flagged(r["item_id"], r["a"]), flagged(r["item_id"], r["b"])
            if fa != fb:
                r = r | {"final": "b" if fa else "a", "language_failure": True}
            new_comps.append(r)
    return new_grades, new_comps
