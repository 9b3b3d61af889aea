"""Which model wrote each record's output, for the dataset card.

A record's output comes from the last step that wrote one: a person's review edit
(:meth:`Provenance.review` whose original output differs), else the last ``answer``
step, else the stage that made the record (its origin's model:
Self-Instruct with ``instances: full``, Alpaca, Magpie, a ``source:`` file ...).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, NamedTuple

from tane.config.answer import AnswerStep
from tane.provenance import Provenance


class Author(NamedTuple):
    who: str     # a model id, or "a person"
    stage: str   # the stage (or method) that wrote it
    kind: Literal["review", "step", "origin"]  # a review edit, a later step, the maker


def output_author(rec: dict[str, Any]) -> Author:
    """Who wrote one record's output."""
    prov = Provenance.of_row(rec)
    review = prov.review()
    if review is not None and review.original is not None and \
            (review.original.get("output") or "") != (rec.get("output") or ""):
        return Author("a person", "review", "review")
    answer = prov.step(AnswerStep)
    if answer is not None:
        return Author(answer.model or "(not recorded)", answer.stage or answer.method, "step")
    return Author(prov.model or "(not recorded)", prov.method or "?", "origin")


def output_lines(records: list[dict[str, Any]], methods: list[str]
                 ) -> tuple[list[str], list[str]]:
    """(the card's "Who wrote the outputs" section, warnings) over the records with an
    output. A recipe with an answer stage whose outputs the record's maker wrote is a
    warning: the answer stage fills only records without one."""
    authors = Counter(output_author(r) for r in records if r.get("output"))
    if not authors:
        return [], []
    how = {"review": "edited by hand in review", "step": "answered by this stage",
           "origin": "written with the instruction"}
    lines = ["## Who wrote the outputs", "", "| model | stage | how | records |",
             "|---|---|---|---|"]
    lines += [f"| {a.who} | `{a.stage}` | {how[a.kind]} | {n} |"
              for a, n in authors.most_common()]
    warnings = []
    makers = {a: n for a, n in authors.items() if a.kind == "origin"}
    if "answer" in methods and makers:
        who = ", ".join(sorted({f"{a.who} (`{a.stage}`)" for a in makers}))
        warnings.append(f"{sum(makers.values())} of {sum(authors.values())} outputs were "
                        f"written by {who}, not by the answer stage, which fills only "
                        "records without an output")
    return lines + [""], warnings
