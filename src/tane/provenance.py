"""Where a record came from, read and written through typed shapes.

A record's provenance has two parts:

- its **origin**: what the generator that made it recorded (``method``, ``model``,
  ``template``, ``sampling``, ... and the generator's own fields, such as a grid's
  ``cell``). It is set once, when the record is made, and never rewritten;
- its **steps**: one entry per later stage that touched the record (an answer, a judge's
  verdict, an Evol-Instruct rewrite, a prompt stage), appended in order.

Each method declares the shape of what it records: a :class:`Origin` subclass for a
generator, a :class:`Step` subclass for a later stage, named in its recipe section
(``provenance: ClassVar`` of the stage's config, read by :mod:`tane.config.registry`).
Readers go through the accessors of :class:`Provenance` (:meth:`Provenance.step`,
:meth:`Provenance.origin`, :meth:`Provenance.made_by`, ...) with those shapes, never by
key; records written before steps held everything (a top-level ``judge``, an
``evol_chain``) are turned into steps when they are read (:func:`migrate`).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Step(BaseModel):
    """One later stage's part of a record's provenance. A method's shape subclasses it
    with what that method records and names its method in ``METHOD``. Unknown keys are
    kept (records of other versions load); :meth:`unknown` lists them."""

    model_config = ConfigDict(extra="allow")
    METHOD: ClassVar[str] = ""

    stage: str = ""
    method: str = ""
    model: str = ""
    model_revision: str = ""
    license: str = ""
    backend: str = ""
    template: str = ""
    sampling: dict[str, Any] = Field(default_factory=dict)
    finish_reason: str | None = None
    # set when the step rewrote the record into a new one: its new id, and the record's
    # id before (Evol-Instruct)
    id: str | None = None
    parent_id: str | None = None

    @classmethod
    def unknown(cls, data: dict[str, Any]) -> set[str]:
        """The keys of ``data`` this shape does not declare."""
        return set(data) - set(cls.model_fields)

    def dump(self) -> dict[str, Any]:
        """The step as stored: its method named, the shape's fields that hold a value (None
        is left out) then any extras."""
        out = {k: v for k, v in self.model_dump(mode="json").items() if v is not None}
        return out | ({"method": self.METHOD} if self.METHOD and not self.method else {})


class Origin(BaseModel):
    """What a generator records of a record besides :class:`Provenance`'s own fields
    (stored beside them, at the top level). A generator's shape subclasses it."""

    model_config = ConfigDict(extra="allow")
    METHOD: ClassVar[str] = ""

    @classmethod
    def unknown(cls, data: dict[str, Any]) -> set[str]:
        """The keys of ``data`` this shape does not declare."""
        return set(data) - set(cls.model_fields)


Shape = type[Step] | type[Origin]
"""What a method declares as the shape of its provenance."""

class HumanReview(BaseModel):
    """A person's latest revision of a record (``human_review``, set when a run's output
    is read with its review: :mod:`tane.store.revisions`): the revision, its status and
    note, where it came from, the fields before it (``original``) and, for a machine drop
    the review kept, the drop it revived."""

    model_config = ConfigDict(extra="allow")
    revision: int = 0
    status: str = ""
    note: str = ""
    source: str = ""
    source_sha256: str = ""
    original: dict[str, Any] | None = None
    revived: dict[str, Any] | None = None


S = TypeVar("S", bound=Step)
M = TypeVar("M", bound=BaseModel)
O = TypeVar("O", bound=Origin)

# the keys an Evol-Instruct child carried at the top level before its rewrite was a step
_OLD_EVOL = ("operation", "epoch", "evol_chain", "evol_stage", "mode", "prompt_style",
             "input_carried", "finish_reason", "equality_judge", "parent_provenance_method")
_OLD_EVOL_CALL = ("model", "model_revision", "license", "backend", "template", "sampling")


def _old_evol(data: dict[str, Any]) -> dict[str, Any]:
    """An Evol-Instruct child written with its rewrite in the top level (``evol_chain``
    and the rewrite's model, template and sampling over the parent's): the origin back
    (what the parent's was, as far as it was kept) and one step per link of the chain."""
    old = {k: data.pop(k) for k in _OLD_EVOL if k in data}
    call = {k: data.pop(k) for k in _OLD_EVOL_CALL if k in data}
    chain = [c for c in old.get("evol_chain") or [] if isinstance(c, dict)]
    parent_method = old.get("parent_provenance_method")
    # the origin's method; a child of a child kept only "evol_instruct" there
    data["method"] = (parent_method if isinstance(parent_method, str)
                      and parent_method not in ("", "evol_instruct") else "unknown")
    data["parent_id"] = None  # the origin's parent was overwritten by the rewrite's
    steps: list[dict[str, Any]] = []
    for prev, link in zip(chain, chain[1:]):
        steps.append({"stage": old.get("evol_stage", "evol_instruct"),
                      "method": "evol_instruct", "id": link.get("id"),
                      "parent_id": prev.get("id"), "operation": link.get("operation"),
                      "epoch": link.get("epoch")})
    if steps:  # the last rewrite is the one whose call the top level described
        steps[-1] |= call | {k: old[k] for k in ("mode", "prompt_style", "input_carried",
                                                 "finish_reason", "equality_judge")
                             if k in old}
    data["steps"] = steps + list(data.get("steps") or [])
    return data


def migrate(data: Any) -> Any:
    """Provenance as written before every later stage appended a step: a top-level
    ``judge`` verdict becomes the last step (its ``score``, an early spelling, its
    ``quality``), an ``evol_chain`` its rewrite steps. Other data is returned as it is."""
    if not isinstance(data, dict) or ("judge" not in data and "evol_chain" not in data):
        return data
    data = dict(data)
    if "evol_chain" in data:
        data = _old_evol(data)
    judge = data.pop("judge", None)
    if isinstance(judge, dict):
        if "score" in judge and "quality" not in judge:  # an early spelling
            judge = {k: v for k, v in judge.items() if k != "score"} | {"quality": judge["score"]}
        data["steps"] = list(data.get("steps") or []) + [{"method": "judge", **judge}]
    return data


class Provenance(BaseModel):
    """Where a record came from. What makes a dataset card honest.

    The fields here and the generator's own (extra) fields are the origin; ``steps`` the
    later stages, in order. Read it through the accessors."""

    model_config = ConfigDict(extra="allow")  # the generator's fields (its Origin shape)

    method: str
    model: str = ""
    model_revision: str = ""
    license: str = ""
    backend: str = ""
    seed_ids: list[str] = Field(default_factory=list)
    parent_id: str | None = None
    template: str = ""
    sampling: dict[str, Any] = Field(default_factory=dict)
    steps: list[dict[str, Any]] = Field(default_factory=list)  # later stages, as stored

    @model_validator(mode="before")
    @classmethod
    def _older(cls, data: Any) -> Any:
        return migrate(data)

    # -- reading ------------------------------------------------------------------------
    @classmethod
    def read(cls, data: Any) -> Provenance:
        """The provenance of a stored record (``row["provenance"]``), whatever version
        wrote it; one that cannot be read is an empty one (method ``""``)."""
        if isinstance(data, Provenance):
            return data
        if not isinstance(data, dict):
            return cls(method="")
        data = {"method": ""} | migrate(data)
        if not isinstance(data["method"], str):
            data["method"] = ""
        return _as(cls, data)

    @classmethod
    def of_row(cls, row: Any) -> Provenance:
        """The provenance of a stored record row (a dict with ``provenance``)."""
        return cls.read(row.get("provenance") if isinstance(row, dict) else None)

    def all_steps(self) -> list[Step]:
        """Every step, in order, as the common :class:`Step` shape."""
        return self.steps_as(Step)

    def steps_as(self, shape: type[S]) -> list[S]:
        """Every step, in order, whatever its method, in ``shape`` (a view of fields
        several methods record, such as the sampled context)."""
        return [_as(shape, s) for s in self.steps if isinstance(s, dict)]

    def steps_of(self, shape: type[S]) -> list[S]:
        """The steps of ``shape``'s method, in order, in that shape."""
        return [_as(shape, s) for s in self.steps
                if isinstance(s, dict) and s.get("method") == shape.METHOD]

    def step(self, shape: type[S]) -> S | None:
        """The last step of ``shape``'s method (a record judged twice: the later
        verdict), or None."""
        found = self.steps_of(shape)
        return found[-1] if found else None

    def origin(self, shape: type[O]) -> O:
        """The generator's own fields in its shape (defaults where it recorded none)."""
        return _as(shape, dict(self.model_extra or {}))

    def made_by(self) -> Step:
        """Who wrote the record's instruction: the last step that rewrote the record into
        a new one (Evol-Instruct), else the origin (method, model, licence, ...)."""
        for s in reversed(self.all_steps()):
            if s.parent_id:
                return s
        ended = (self.model_extra or {}).get("finish_reason")  # a generator's one call
        return Step(method=self.method, model=self.model, model_revision=self.model_revision,
                    license=self.license, backend=self.backend, template=self.template,
                    sampling=self.sampling, parent_id=self.parent_id,
                    finish_reason=ended if isinstance(ended, str) else None)

    def parent(self) -> str | None:
        """The id of the record this one was made from, if any."""
        return self.made_by().parent_id

    def lineage(self) -> list[str]:
        """The ids the record had, from the one its first rewrite started from to its own
        (empty when no step rewrote it)."""
        ids: list[str] = []
        for s in self.all_steps():
            if s.parent_id:
                ids += ([] if ids else [s.parent_id]) + [s.id or ""]
        return ids

    def lookup(self, path: str) -> Any:
        """A dotted path into the provenance, as recipes name one (``score_field:
        judge.quality``): its first part names a field, a generator's field, or a
        method whose last step is meant; None when absent."""
        head, _, rest = path.partition(".")
        root: Any = self.view().get(head)
        for part in rest.split(".") if rest else []:
            root = root.get(part) if isinstance(root, dict) else None
        return root

    def view(self) -> dict[str, Any]:
        """The stored provenance with each step method's last step under its name
        (``judge``, ``answer``, ...), as prompt templates see it."""
        out = self.model_dump(mode="json")
        for s in self.steps:
            if isinstance(s, dict) and isinstance(s.get("method"), str) \
                    and s["method"] not in Provenance.model_fields \
                    and s["method"] not in (self.model_extra or {}):
                out[s["method"]] = s
        return out

    def review(self) -> HumanReview | None:
        """A person's latest revision of the record, if it was reviewed."""
        got = (self.model_extra or {}).get("human_review")
        return _as(HumanReview, got) if isinstance(got, dict) else None

    def named_fields(self) -> dict[str, Any]:
        """The named fields a prompt stage stored on the record (``fields``)."""
        got = (self.model_extra or {}).get("fields")
        return dict(got) if isinstance(got, dict) else {}

    # -- writing ------------------------------------------------------------------------
    def with_step(self, step: Step | dict[str, Any]) -> Provenance:
        """A copy with ``step`` appended (the record's own provenance is not changed)."""
        stored = step.dump() if isinstance(step, Step) else dict(step)
        return self.model_copy(update={"steps": [*self.steps, stored]})

    def with_fields(self, named: dict[str, Any]) -> Provenance:
        """A copy whose named fields are ``named`` (a prompt stage's output)."""
        return self.model_copy(update={"fields": named})


def _as(shape: type[M], data: dict[str, Any]) -> M:
    """``data`` in ``shape``; stored values of the wrong type leave their defaults."""
    try:
        return shape.model_validate(data)
    except ValidationError as e:
        bad = {str(err["loc"][0]) for err in e.errors() if err["loc"]}
        return shape.model_validate({k: v for k, v in data.items() if k not in bad})


__all__ = ["HumanReview", "Origin", "Provenance", "Shape", "Step", "migrate"]
