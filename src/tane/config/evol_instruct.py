"""Recipe section of Evol-Instruct (methods/evol_instruct.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..provenance import Shape, Step
from ..stage import Cost, Counts, StageSpec, ratio
from .base import Sampling, StageBase, passing, up

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning",
              "complicate_input", "breadth")


class EvolSampling(Sampling):
    max_tokens: int = Field(512, ge=1, le=32768)


class EvolStep(Step):
    """One Evol-Instruct rewrite: the new record's ``id``, the record it rewrote
    (``parent_id``; :meth:`~tane.provenance.Provenance.lineage` reads the chain), the operation and epoch, whether the parent's input was carried
    over, and the equality check's answer (None when it did not run)."""

    METHOD: ClassVar[str] = "evol_instruct"
    operation: str | None = None
    epoch: int = 0
    mode: str = ""
    prompt_style: str = ""
    input_carried: bool = False
    equality_judge: dict[str, Any] | None = None


class EvolInstructStage(StageBase):
    """Evol-Instruct (WizardLM): see methods/evol_instruct.py. Fields owned by that module."""

    card_text: ClassVar[str] = "Evol-Instruct: instructions rewritten to be deeper or broader."
    writes_instructions: ClassVar[bool] = True

    method: Literal["evol_instruct"]
    provenance: ClassVar[Shape] = EvolStep
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "chat"
    epochs: int = Field(1, ge=1, le=10)
    operations: list[Literal["add_constraints", "deepen", "concretize", "increase_reasoning",
                             "complicate_input", "breadth"]] = Field(
        default_factory=lambda: list(OPERATIONS))
    keep_parents: bool = True
    judge_equality: bool = True
    retry_failed: bool = Field(True, description="an instruction whose evolution failed is "
                                                 "tried again in the next epoch (the paper)")
    sampling: EvolSampling = EvolSampling()
    stop: list[str] = Field(default_factory=list, max_length=8,
                            description="more stop strings for the rewrite call (completion "
                                        "style already stops at a blank line + '#')")
    templates: dict[str, str] = Field(default_factory=dict)

    def contract(self) -> StageSpec:
        # evolved children carry no output; parents, when kept, keep theirs
        return StageSpec("transform", reads=frozenset({"instruction"}),
                         clears=frozenset({"output"}),
                         maybe_writes=frozenset({"output"} if self.keep_parents else set()),
                         out_per_in=float(self.epochs + (1 if self.keep_parents else 0)))

    def estimate(self, need: int, counts: Counts) -> Cost:
        # each epoch rewrites every instruction (and checks the rewrite against its
        # parent); a record in passes on itself (keep_parents) and its kept children
        calls_per = ratio(counts, "calls", "records_in",
                          float(self.epochs * (1 + (1 if self.judge_equality else 0))))
        if counts.get("records_in", 0) > 0:
            per_in = counts["passed"] / counts["records_in"]
            how = f"{per_in:.2f} records out a record in, {calls_per:.2f} calls (measured)"
        else:
            per_in = float(self.epochs + 1 if self.keep_parents else 1)
            how = f"{calls_per:.0f} calls a record, every rewrite kept (not measured)"
        rin = up(need / per_in) if per_in > 0 else need
        calls = up(rin * calls_per)
        return Cost(rin, calls, calls * self.max_tokens(), how,
                    measured=counts.get("records_in", 0) > 0)

    def measure(self, stage: dict[str, Any]) -> Counts:
        return passing(stage)
