"""The stage contract: what a stage is to the engine, beside the records it passes on.

A stage declares (:class:`StageSpec`):

* its **role**: a ``generator`` makes new records from seeds, a ``transform`` takes
  records and gives back records (the same, changed, more, or fewer) and drops;
* whether it works **per record** (each record on its own: the engine may run records
  concurrently, in any order, as soon as each exists) or needs the **batch** (it sees the
  records of one unit together, in order);
* whether it is **ordered** (stateful or order-dependent: a novelty index, greedy dedup):
  the engine then feeds it units in submission order, one at a time;
* the record **fields it reads and writes**, so that a recipe whose chain cannot work is
  refused before any call (:func:`check_chain`).

What the engine runs is any object with ``process(records) -> Batch`` (a transform) or
``round(r, need) -> Batch`` (a generator). A per-record LLM transform can instead say only
what to ask and how to read the reply (:class:`LLMTransform`): the engine owns the call,
the retries, the journal, the counts and the ``llm_error:*`` drops.

This module is the bottom floor: it imports nothing of tane but ``schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from .schema import Drop, Record

Role = Literal["generator", "transform"]
FIELDS = ("instruction", "input", "output")


@dataclass(frozen=True)
class StageSpec:
    role: Role
    per_record: bool = True
    ordered: bool = False
    reads: frozenset[str] = frozenset({"instruction"})
    # fields every record leaving the stage has set / may have set / has cleared
    writes: frozenset[str] = frozenset()
    maybe_writes: frozenset[str] = frozenset()
    clears: frozenset[str] = frozenset()
    # per-record stages that skip records whose ``skip_if`` field is already set
    skip_if: str | None = None
    # the stage calls a model (the feed rule and a remote executor's workers count only
    # such stages)
    llm: bool = True
    # an ordered stage that ranks a whole unit before it keeps (dedup ``keep: best``): the
    # feed rule cannot pass it a unit's records a few at a time
    ranks: bool = False
    # records one record in becomes when every call succeeds (a rewrite that keeps its
    # parent: 2): the feed rule's keep rate before it has measured one
    out_per_in: float = 1.0
    # a generator's rounds: at most ``max_rounds``; ``lookahead`` of them in flight at
    # once; ``lookahead_safe``: the generator keeps its own round order where it needs
    # one (turns), so the engine need not run its rounds one after another
    max_rounds: int = 0
    lookahead: int = 1
    lookahead_safe: bool = False

    @property
    def sequential(self) -> bool:
        """The engine feeds it whole units, one at a time, in submission order: it is
        ordered (stateful: a novelty index, greedy dedup) or needs the whole batch."""
        return self.ordered or not self.per_record


# counts measured on real runs, by name (records in, calls, drops of a reason...): what a
# stage's cost model reads, summed over the runs a bench made (tane/config/plan_rates.py)
Counts = dict[str, float]


@dataclass(frozen=True)
class Cost:
    """What a stage costs to pass on ``need`` records (its config's ``estimate``).

    ``records_in``: the records it must receive (0 for a generator); ``calls`` the model
    calls; ``completion_tokens`` at most (each call at its ``max_tokens``); ``why`` in
    words; ``exact``: the calls follow from ``records_in`` alone (one a record, or none);
    ``measured``: the rates came from measured counts, not from the recipe alone;
    ``own``: False when the method has no cost model of its own (one call a record)."""

    records_in: int
    calls: int
    completion_tokens: int
    why: str
    exact: bool = False
    measured: bool = False
    own: bool = True


def ratio(counts: Counts, num: str, den: str, default: float) -> float:
    """``counts[num] / counts[den]``, or ``default`` when there is no such measure."""
    d = counts.get(den, 0.0)
    return counts.get(num, 0.0) / d if d > 0 else default


@dataclass
class Batch:
    """What one step of a stage produced: kept records and recorded drops."""

    records: list[Record] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """One call a stage wants made: ``kind`` is ``completion``, ``chat`` or ``raw_chat``;
    ``prompt`` a string or a message list; ``params`` the sampling (GenParams); ``meta``
    what a transform's provenance step records of it.

    What a drop of this call names, when the call fails (``llm_error:<reason>``) or its
    reply is cut at ``max_tokens`` (the reason ``truncated``; None: the stage reads a cut
    reply itself, e.g. keeping all but its last item): ``text``, ``record_id`` and
    ``detail``. A cut reply's drop adds ``raw`` (its first 500 characters) to the detail;
    its text is ``cut_text(reply)`` when that is set and not empty, else ``text``.
    ``state``: what the stage carries to the reading of the reply (a retry's count, the
    first reply a follow-up checks); unlike ``meta``, it is recorded nowhere."""

    kind: str
    prompt: Any
    params: Any
    meta: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    record_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    truncated: str | None = None
    cut_text: Callable[[str], str] | None = None
    # what the stage carries from this request to the reading of its reply and to a
    # follow-up (not recorded anywhere)
    state: Any = None


@runtime_checkable
class LLMTransform(Protocol):
    """A per-record LLM transform: ``prompt`` says what to ask (None: pass the record on
    unchanged), ``parse`` reads the reply into the new record, a drop, a follow-up
    request, or a list of these."""

    def prompt(self, record: Record) -> Request | None: ...

    def parse(self, record: Record, request: Request, completion: Any
              ) -> Record | Drop | Request | list[Record | Drop | Request]: ...


@runtime_checkable
class Previews(Protocol):
    """A stage that can render a call's prompt without a model, so ``tane plan`` counts
    its tokens: a generator the ``i``-th prompt of its first round (``record`` None), a
    transform its prompt for ``record`` (None: no call for that record)."""

    def preview(self, record: Record | None, i: int) -> str | None: ...


def prompt_text(prompt: Any) -> str:
    """A prompt as text: a string, or the contents of a chat message list."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return str(prompt)


@dataclass
class Availability:
    """What the records reaching a stage are known to carry."""

    sure: set[str] = field(default_factory=lambda: {"instruction"})
    maybe: set[str] = field(default_factory=set)
    # not known before the data is read (a source: file at recipe load): no check
    unknown: set[str] = field(default_factory=set)

    def after(self, spec: StageSpec) -> "Availability":
        sure = (self.sure - spec.clears) | spec.writes
        maybe = ((self.maybe - spec.clears) | spec.maybe_writes) - sure
        unknown = self.unknown - spec.clears - spec.writes - spec.maybe_writes
        return Availability(sure, maybe, unknown)


def check_chain(specs: list[tuple[str, StageSpec]], start: Availability) -> tuple[int, str] | None:
    """(index of the first stage that cannot work, why) or None when the chain works.

    ``start``: what the records carry before the first stage (a generator starts from
    nothing; a ``source:`` file from its columns)."""
    have = start
    for i, (name, spec) in enumerate(specs):
        if spec.role == "generator" and i > 0:
            return i, f"'{name}' generates records; only the first stage may generate"
        for f in sorted(spec.reads):
            if f not in have.sure and f not in have.unknown and spec.role == "transform":
                some = " on every record" if f in have.maybe else ""
                return i, (f"'{name}' reads '{f}', which no earlier stage writes{some}"
                           + (" (add an answer stage before it)" if f == "output" else ""))
        if spec.skip_if and spec.skip_if in have.sure:
            return i, (f"'{name}' only fills records without '{spec.skip_if}', and every "
                       f"record reaching it already has one: it would do nothing (set "
                       f"overwrite: true, or have the earlier stage leave '{spec.skip_if}' "
                       f"empty, e.g. self_instruct instances: input_only)")
        have = have.after(spec)
    return None
