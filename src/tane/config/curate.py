"""Recipe section of a curate stage (methods/curate.py; steps in curate/steps)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..stage import Cost, Counts, StageSpec
from .base import StageBase, seen, up


class CurateStep(BaseModel):
    """One curation step: ``name`` picks it, the other keys are its parameters."""

    model_config = ConfigDict(extra="allow")
    name: str


# what the counts call the records the target cut after every step (over_target)
TARGET = "target"

# steps that compare a record with the ones kept before it: the stage is then ordered
ORDERED_STEPS = frozenset({"near_dup", "minhash_dup", "lsh_dup", "embedding_dup", "exact_dup"})


class CurateStage(StageBase):
    """A list of curation steps (curate/steps), each dropping with a recorded reason."""

    card_text: ClassVar[str] = "Curation: rule-based filters, each drop recorded with its reason."

    method: Literal["curate"]
    lang: Literal["ja", "en", "any"] = "ja"
    steps: list[CurateStep] = Field(min_length=1)

    def contract(self) -> StageSpec:
        ordered = any(s.name in ORDERED_STEPS for s in self.steps)
        ranks = any((s.model_extra or {}).get("keep") == "best" for s in self.steps)
        return StageSpec("transform", per_record=not ordered, ordered=ordered, llm=False,
                         ranks=ranks)

    def estimate(self, need: int, counts: Counts) -> Cost:
        # no call; each step keeps its measured share of what reaches it (a step is
        # measured on the runs of other recipes too, whatever steps came before it), and
        # the target cuts its measured share of what passes them all
        keep, known, unknown = 1.0, [], []
        for name in [s.name for s in self.steps] + [TARGET]:
            reached = counts.get(f"reached:{name}", 0)
            if reached > 0:
                k = 1 - counts.get(f"dropped:{name}", 0) / reached
                keep *= k
                known.append(f"{name} {k:.0%}")
            elif name != TARGET:
                unknown.append(name)
        rin = up(need / keep) if keep > 0 else need
        why = ("keeps " + ", ".join(known) + " (measured)" if known else "")
        if unknown:
            why += ("; " if why else "") + f"{', '.join(unknown)}: nothing dropped (not measured)"
        return Cost(rin, 0, 0, why, exact=True, measured=bool(known))

    def measure(self, stage: dict[str, Any]) -> Counts:
        # a record is dropped at the first step that fails ('<step>' or '<step>:<why>');
        # of those that pass them all, the target cuts some at the end ('over_target')
        rin, _, _, dropped = seen(stage)
        out: Counts = {}
        left = rin
        for s in self.steps:
            n = sum(v for k, v in dropped.items() if k.split(":", 1)[0] == s.name)
            out[f"reached:{s.name}"] = left
            out[f"dropped:{s.name}"] = float(n)
            left -= n
        out[f"reached:{TARGET}"] = left
        out[f"dropped:{TARGET}"] = float((stage.get("dropped") or {}).get("over_target", 0))
        return out
