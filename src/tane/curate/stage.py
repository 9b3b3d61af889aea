"""Curation steps (curate/steps/) built from a config and run in order; the recipe stage
that uses them is ``tane.methods.curate``.

A record is dropped at the first step that fails, with reason ``<step>`` or
``<step>:<sub-reason>`` and the step's detail; records that pass every step are kept in
their order and remembered by the stateful (dedup) steps, whose state lasts across
``process`` calls (the runner feeds the stage round by round). Records of a batch are
checked in input order, or, when the dedup steps keep the best-scored record
(``keep: best``), from the highest score down (curate/steps/dedup_steps.py).

Configuration errors (unknown step, unknown or bad parameter, a ja-only step in an en
stage) are raised in ``__init__`` as TaneError with field ``steps.N.name`` or
``steps.N.<param>``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from pydantic import ValidationError

from tane.curate.steps import STEPS, Fields, Step, check_consistent, rank_order
from tane.errors import TaneError
from tane.schema import Record


def _step_spec(step: Any) -> tuple[Any, dict[str, Any]]:
    if isinstance(step, dict):
        spec = dict(step)
        return spec.pop("name", None), spec
    return getattr(step, "name", None), dict(getattr(step, "model_extra", None) or {})


def build_steps(lang: str, steps: Iterable[Any], seeds: Sequence[Any] = ()) -> list[Step]:
    """Steps from ``CurateStep`` objects or ``{"name": ..., **params}`` dicts."""
    built: list[Step] = []
    for i, step in enumerate(steps):
        name, params = _step_spec(step)
        cls = STEPS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise TaneError(f"unknown curate step {name!r}; choose one of "
                            f"{', '.join(STEPS)}", field=f"steps.{i}.name")
        if cls.langs is not None and lang not in cls.langs and lang != "any":
            raise TaneError(f"step {name!r} is for {'/'.join(cls.langs)}, not lang {lang!r}",
                            field=f"steps.{i}.name")
        try:
            p = cls.Params.model_validate(params)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            msg = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            raise TaneError(f"{msg} (step {name!r})",
                            field=f"steps.{i}.{loc}" if loc else f"steps.{i}") from None
        try:
            built.append(cls(lang, p, seeds))
        except (ValueError, TaneError) as e:
            msg = e.message if isinstance(e, TaneError) else str(e)
            sub = getattr(e, "field", None)
            raise TaneError(msg, field=f"steps.{i}.{sub or 'name'}") from None
    check_consistent(built)
    return built


def run_steps(steps: list[Step], f: Fields) -> tuple[str, dict[str, Any]] | None:
    """The first failure (reason, detail), or None after committing a kept record."""
    for step in steps:
        if not step.applies(f):
            continue
        res = step.check(f)
        if res is not None:
            return res
    for step in steps:
        if step.stateful and step.applies(f):
            step.commit(f)
    return None


def run_batch(steps: list[Step], batch: list[Fields]
              ) -> list[tuple[str, dict[str, Any]] | None]:
    """`run_steps` over a batch in the stage's order (input order, or best score first
    for ``keep: best``); results in input order."""
    order = rank_order(steps, batch)
    ordered = [batch[i] for i in order]
    for step in steps:
        step.prepare(ordered)
    results: list[tuple[str, dict[str, Any]] | None] = [None] * len(batch)
    for i in order:
        results[i] = run_steps(steps, batch[i])
    return results


def record_fields(r: Record) -> Fields:
    return Fields(instruction=r.instruction, input=r.input, output=r.output,
                  provenance=r.provenance.model_dump(mode="json"), id=r.id)
