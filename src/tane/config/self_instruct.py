"""Recipe section of Self-Instruct (methods/self_instruct.py)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..provenance import Origin, Shape
from ..stage import Cost, Counts, StageSpec, ratio
from .base import GeneratorBase, NoveltyConfig, Sampling, seen, up
from .context import SampledAxis, SampledProvenance

# drops of a task that got its instance call (the rest are dropped before it)
INSTANCE_DROPS = ("bad_instance", "truncated_instance")


class GenerateSampling(Sampling):
    """Self-Instruct's settings for instruction generation: the paper's values."""

    top_p: float = Field(0.5, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=32768)
    presence_penalty: float = Field(2.0, ge=-2.0, le=2.0)


class InstanceSampling(Sampling):
    """Instance generation. ``max_tokens`` unset: 300 with our prompts; with upstream's,
    upstream's rule (300 for a group of five instructions that holds a classification
    task, else 350). Upstream's presence penalty 1.5 is the default with its prompts."""

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=32768)  # type: ignore[assignment]


class SelfInstructOrigin(SampledProvenance, Origin):
    """A Self-Instruct record: the round, the machine examples in its prompt, the
    classification and instance prompts, the novelty check (``max_rouge_l``,
    ``most_similar``), which instance of its instruction it is (``instance_index``) and
    the label that steered an input-only instance."""

    METHOD: ClassVar[str] = "self_instruct"
    instance_sampling: dict[str, Any] = Field(default_factory=dict)
    mode: str = ""
    round: int = 0
    machine_examples: list[str] = Field(default_factory=list)
    is_classification: bool | None = None
    classification_raw: str | None = None
    classification_template: str | None = None
    max_rouge_l: float | None = None
    most_similar: list[dict[str, Any]] = Field(default_factory=list)
    novelty: dict[str, Any] = Field(default_factory=dict)
    instance_template: str = ""
    instance_order: str = ""
    instance_index: int = 0
    instance_label: str | None = None


class SelfInstructStage(GeneratorBase):
    card_text: ClassVar[str] = (
        "Self-Instruct (Wang et al. 2023): the model continues a numbered list of seed and "
        "machine-written instructions; new instructions are filtered and dropped when their "
        "ROUGE-L against any earlier one is above the threshold; instances are then "
        "generated per instruction.")

    method: Literal["self_instruct"]
    provenance: ClassVar[Shape] = SelfInstructOrigin
    mode: Literal["en", "ja"] = "ja"
    prompt_style: Literal["completion", "chat"] = "completion"
    num_prompt_instructions: int = Field(8, ge=1, le=32)
    num_machine_instructions: int = Field(2, ge=0, le=32)
    request_batch_size: int = Field(4, ge=1, le=1024, description=(
        "prompts per round (default: 5 in en, upstream's; 4 in ja)"))
    lookahead: int = Field(1, ge=1, le=256, description=(
        "generation rounds in flight at once. 1 is the paper: each round's prompts sample "
        "machine instructions from the pool as it stands after the previous round. With N, "
        "round r samples from the pool after round r-N, so a big server stays busy; "
        "novelty decisions are still taken in round order, so runs stay reproducible"))
    classify: Literal["upstream", "seeds", "off"] = Field("seeds", description=(
        "identify classification tasks (they get output-first instances): upstream's fixed "
        "31-example English prompt (default in en), a few-shot prompt from the seeds' "
        "is_classification (default in ja and chat), or off (all open-ended). true/false "
        "are accepted as the default/off"))
    instances: Literal["full", "input_only"] = Field("full", description=(
        "full: each record gets an input and an output from this model (the paper); "
        "input_only: inputs only, no output on any record, classification tasks "
        "included: an answer stage writes every output"))
    instance_prompt: Literal["upstream", "seeds"] = Field("seeds", description=(
        "upstream's fixed instance prompts, several examples per task (default in en with "
        "instances: full and completion prompts), or one instance from a prompt built "
        "of the seeds' own examples"))
    instances_per_task: int = Field(1, ge=1, le=10, description=(
        "instances kept per instruction, each a record (default 5 with upstream's "
        "prompt, which asks for several; 1 with the seeds prompt)"))
    truncated: Literal["response", "last_item"] = "response"
    sampling: GenerateSampling = GenerateSampling()
    instance_sampling: InstanceSampling = InstanceSampling()
    novelty: NoveltyConfig = NoveltyConfig()
    templates: dict[str, str] = Field(default_factory=dict,
                                      description="override template files by name")
    context: dict[str, SampledAxis] = Field(default_factory=dict, description=(
        "values drawn per generate prompt (a persona, a topic) that the prompt shows"))

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        """Defaults that depend on the mode: ``en`` with completion prompts is upstream's
        setting (bootstrap_instructions.py, identify_clf_or_not.py, generate_instances.py)."""
        if not isinstance(data, dict):
            return data
        d = dict(data)
        faithful = d.get("mode", "ja") == "en" and d.get("prompt_style", "completion") == \
            "completion"
        c = d.get("classify")
        if c is None or c is True:
            d["classify"] = "upstream" if faithful else "seeds"
        elif c is False:
            d["classify"] = "off"
        if d.get("instance_prompt") is None:
            d["instance_prompt"] = ("upstream" if faithful and d.get("instances", "full") ==
                                    "full" else "seeds")
        if d.get("instances_per_task") is None:
            d["instances_per_task"] = 5 if d["instance_prompt"] == "upstream" else 1
        if d["instance_prompt"] == "upstream" and isinstance(d.get("instance_sampling", {}), dict):
            d["instance_sampling"] = {"presence_penalty": 1.5} | d.get("instance_sampling", {})
        if d.get("mode") == "en":
            d.setdefault("request_batch_size", 5)
        return d

    @model_validator(mode="after")
    def _machine_le_prompt(self) -> SelfInstructStage:
        if self.num_machine_instructions > self.num_prompt_instructions:
            raise ValueError("num_machine_instructions cannot exceed num_prompt_instructions")
        if self.mode != "en" and "upstream" in (self.classify, self.instance_prompt):
            raise ValueError("upstream's classify and instance prompts are English: "
                             "mode: en only")
        if self.instance_prompt == "upstream" and self.instances != "full":
            raise ValueError("instances: input_only needs instance_prompt: seeds")
        if self.instances_per_task > 1 and self.instance_prompt != "upstream":
            raise ValueError("instances_per_task above 1 needs instance_prompt: upstream "
                             "(the seeds prompt writes one instance)")
        return self

    def estimate(self, need: int, counts: Counts) -> Cost:
        """Prompts, each giving some new tasks (what the novelty filter keeps); an
        instance call (and a classification call) per task, which gives a record (up to
        ``instances_per_task``) or a drop. The first round sends its whole batch."""
        per_prompt = ratio(counts, "tasks", "prompts",
                           float(max(15 - self.num_prompt_instructions, 1)))
        made = ratio(counts, "records", "tasks", float(self.instances_per_task))
        after = 2 if self.classify != "off" else 1
        tasks = up(need / made) if made > 0 else need
        prompts = max(self.request_batch_size,
                      up(tasks / per_prompt) if per_prompt > 0 else tasks)
        inst = self.instance_sampling.max_tokens or (350 if self.instance_prompt == "upstream"
                                                     else 300)
        measured = counts.get("prompts", 0) > 0
        if measured:
            new = ratio(counts, "tasks", "checked", 1.0)
            why = (f"{per_prompt:.1f} new tasks a prompt ({new:.0%} of those checked), "
                   f"{made:.2f} records a task (measured)")
        else:
            why = f"{per_prompt:.0f} tasks a prompt, nothing dropped (not measured)"
        return Cost(0, prompts + tasks * after,
                    prompts * self.sampling.max_tokens + tasks * inst
                    + (tasks * 4 if after == 2 else 0),
                    f"{why}; at least {self.request_batch_size} prompts, {after} call(s) a "
                    "task", measured=measured)

    def measure(self, stage: dict[str, Any]) -> Counts:
        _, _, calls, dropped = seen(stage)
        records = float(stage.get("kept", 0))
        # tasks that got an instance call: one a record passed on (or instances_per_task),
        # and those whose instance was dropped; every other call was a prompt (a record
        # held back near the target, 'over_target', is not passed on: its call counts
        # with the prompts, in what a record passed on costs)
        tasks = records / self.instances_per_task + sum(dropped.get(r, 0)
                                                        for r in INSTANCE_DROPS)
        after = 2 if self.classify != "off" else 1
        prompts = max(calls - tasks * after, 0.0)
        checked = tasks + float(dropped.get("near_duplicate", 0))
        return {"prompts": prompts, "tasks": tasks, "checked": checked, "records": records}

    # rounds overlap (lookahead): its novelty decisions and pool updates take turns
    lookahead_safe: ClassVar[bool] = True

    def rounds_in_flight(self) -> int:
        return self.lookahead

    def contract(self) -> StageSpec:
        # input_only writes no output at all, a classification task's included
        out = {"output"} if self.instances == "full" else set()
        return StageSpec("generator", per_record=False, ordered=True, reads=frozenset(),
                         writes=frozenset({"instruction"} | out),
                         maybe_writes=frozenset({"input"}))
