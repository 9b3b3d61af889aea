"""Recipe section of Evol-Instruct (methods/evol_instruct.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ..stage import StageSpec
from .base import Sampling, StageBase

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning",
              "complicate_input", "breadth")


class EvolInstructStage(StageBase):
    """Evol-Instruct (WizardLM): see methods/evol_instruct.py. Fields owned by that module."""

    card_text: ClassVar[str] = "Evol-Instruct: instructions rewritten to be deeper or broader."
    writes_instructions: ClassVar[bool] = True

    method: Literal["evol_instruct"]
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
    sampling: Sampling = Sampling(temperature=0.7, top_p=0.95, max_tokens=512)
    stop: list[str] = Field(default_factory=list, max_length=8,
                            description="more stop strings for the rewrite call (completion "
                                        "style already stops at a blank line + '#')")
    templates: dict[str, str] = Field(default_factory=dict)

    def contract(self) -> StageSpec:
        # evolved children carry no output; parents, when kept, keep theirs
        return StageSpec("transform", reads=frozenset({"instruction"}),
                         clears=frozenset({"output"}),
                         maybe_writes=frozenset({"output"} if self.keep_parents else set()))
