"""Base classes of every recipe section: unknown keys are errors; sampling parameters.

Every stage's section derives from :class:`StageBase`: it may name one of the recipe's
``models:``, says what it is to the engine (:meth:`StageBase.contract`) and what it costs
(:meth:`StageBase.estimate`, from the counts :meth:`StageBase.measure` takes of a real
run; ``tane plan`` reads both and knows no method by name)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..provenance import Origin, Shape, Step
from ..stage import Cost, Counts, StageSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sampling(Strict):
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1, le=32768)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)


class NoveltyConfig(Strict):
    """ROUGE-L near-duplicate filter (tane.curate.rouge.NoveltyIndex): drop above
    ``threshold``; ``top_k`` most similar items kept in provenance."""

    threshold: float = Field(0.7, ge=0.0, le=1.0)
    tokenizer: Literal["auto", "char", "morph", "whitespace", "rouge"] = "auto"
    top_k: int = Field(3, ge=0, le=20)


class NoveltyOrigin(Origin):
    """The novelty check's most similar items, as every generator with one records them
    (a view for readers: each generator's own shape declares the field too)."""

    most_similar: list[dict[str, Any]] = Field(default_factory=list)


class StageBase(Strict):
    """What every stage section has: ``method`` (set by the subclass) and ``model``."""

    # what a dataset card says of the method (the registry reads it)
    card_text: ClassVar[str] = ""
    # the card lists the models of such stages as "generation"
    writes_instructions: ClassVar[bool] = False
    # the shape of what the method records in a record's provenance: a Step for a later
    # stage, an Origin for a generator (tane.provenance; the registry reads it)
    provenance: ClassVar[Shape] = Step

    model: str | None = Field(None, description=(
        "the name of one of the recipe's models: (default: the recipe's llm:)"))
    if TYPE_CHECKING:  # each subclass's field, a Literal of its name
        method: str

    def contract(self) -> StageSpec:  # pragma: no cover - every stage overrides it
        raise NotImplementedError(type(self).__name__)

    def spec(self) -> StageSpec:
        """All the engine reads of this stage, in one place: its :meth:`contract`, and a
        generator's rounds (:meth:`GeneratorBase.spec`)."""
        return self.contract()

    def describe(self) -> dict[str, Any]:
        return {"method": getattr(self, "method", ""), "model": self.model or "default"}

    # -- the cost model ----------------------------------------------------------------
    def rate_mode(self) -> str:
        """The mode measured rates are kept under (``ja``, ``en``; ``any`` without one)."""
        return str(getattr(self, "mode", None) or getattr(self, "lang", None) or "any")

    def estimate(self, need: int, counts: Counts) -> Cost:
        """The calls and records in to pass on ``need`` records, from ``counts`` (what
        :meth:`measure` took of earlier runs of this method, mode and model class; empty
        when nothing was measured). A method without a cost model of its own is assumed
        to make one call a record and drop nothing, and says so (``own=False``)."""
        rin = 0 if self.contract().role == "generator" else need
        return Cost(rin, need, need * self.max_tokens(), "no cost model of its own: one "
                    "call a record, nothing dropped, assumed", own=False)

    def measure(self, stage: dict[str, Any]) -> Counts:
        """The counts :meth:`estimate` reads, taken from one stage of a run's stats.json
        (``records_in``, ``kept``, ``dropped`` by reason, ``llm_calls``, ``cache_hits``)."""
        return {}

    def max_tokens(self) -> int:
        """The stage's largest ``max_tokens`` (a bound on one call's completion)."""
        best = 0
        for name in type(self).model_fields:
            if name == "sampling" or name.endswith("_sampling"):
                best = max(best, getattr(getattr(self, name, None), "max_tokens", 0) or 0)
        return best or 256


def seen(stage: dict[str, Any]) -> tuple[float, float, float, dict[str, int]]:
    """(records in, records passed on, calls, drops by reason) of a stats.json stage; a
    record the target cut (``over_target``) was passed on."""
    dropped = {str(k): int(v) for k, v in (stage.get("dropped") or {}).items()}
    passed = int(stage.get("kept", 0)) + dropped.pop("over_target", 0)
    calls = int(stage.get("llm_calls", 0)) + int(stage.get("cache_hits", 0))
    return float(stage.get("records_in", 0)), float(passed), float(calls), dropped


def up(x: float) -> int:
    """``x`` rounded up (a float's last bit does not add a call)."""
    return max(math.ceil(x - 1e-9), 0)


def per_record(cfg: StageBase, need: int, counts: Counts, calls_per: float,
               keep_default: float = 1.0, bound: int | None = None, what: str = "") -> Cost:
    """A per-record transform's cost: ``need / keep`` records in, ``calls_per`` each; the
    keep rate is the measured ``passed / records_in``, else ``keep_default``."""
    measured = counts.get("records_in", 0) > 0
    keep = counts["passed"] / counts["records_in"] if measured else keep_default
    rin = up(need / keep) if keep > 0 else need
    calls = up(rin * calls_per)
    how = (f"keeps {keep:.0%} (measured)" if measured else
           "nothing dropped (not measured)" if keep_default == 1.0 else
           f"keeps {keep:.0%} (not measured)")
    return Cost(rin, calls, calls * (bound or cfg.max_tokens()),
                f"{what + ', ' if what else ''}{how}",
                exact=calls_per in (0.0, 1.0), measured=measured)


def per_output(cfg: StageBase, need: int, counts: Counts, calls: int, why: str) -> Cost:
    """A generator's cost: the measured calls per record it passed on, else ``calls`` (what
    the recipe alone says when nothing is dropped, ``why``)."""
    if counts.get("passed", 0) > 0:
        per = counts["calls"] / counts["passed"]
        calls, why = up(need * per), f"{per:.2f} calls a record (measured)"
    else:
        why += ", nothing dropped (not measured)"
    return Cost(0, calls, calls * cfg.max_tokens(), why, measured=counts.get("passed", 0) > 0)


def generated(stage: dict[str, Any]) -> Counts:
    """The counts :func:`per_output` reads: a generator's calls and the records it kept."""
    _, _, calls, _ = seen(stage)
    return {"passed": float(stage.get("kept", 0)), "calls": calls}


def passing(stage: dict[str, Any]) -> Counts:
    """The counts :func:`per_record` reads: the records the stage worked on, those it
    passed on, its calls. A record it worked on and the target then cut (``over_target``:
    held back from the next stage, or cut at the end) was not passed on: the work a run
    does near its target and throws away is part of the rate."""
    _, _, calls, _ = seen(stage)
    return {"records_in": float(stage.get("records_in", 0)),
            "passed": float(stage.get("kept", 0)), "calls": calls}


class GeneratorBase(StageBase):
    """A stage that makes records from seeds, in rounds."""

    writes_instructions: ClassVar[bool] = True
    provenance: ClassVar[Shape] = Origin

    def contract(self) -> StageSpec:
        """Most generators write an instruction and its answer (input when the task has
        one); those that differ say so."""
        return StageSpec("generator", per_record=False, ordered=True, reads=frozenset(),
                         writes=frozenset({"instruction", "output"}),
                         maybe_writes=frozenset({"input"}))

    def measure(self, stage: dict[str, Any]) -> Counts:
        return generated(stage)

    # rounds may overlap: the stage keeps its own round order where it needs one
    lookahead_safe: ClassVar[bool] = False

    def rounds_in_flight(self) -> int:
        """Rounds the engine may keep in flight at once (a recipe's ``lookahead``)."""
        return 1

    def spec(self) -> StageSpec:
        return replace(self.contract(), max_rounds=self.max_rounds,
                       lookahead=self.rounds_in_flight(), lookahead_safe=self.lookahead_safe)

    max_rounds: int = Field(200, ge=1)
