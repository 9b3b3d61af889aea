"""The dataset card's section on a run's prompt stages (``method: prompt``): each one's
template, what it wrote (a field, or a schema's fields) and its ``keep_if``, read from the
records' provenance (every record's step carries them), else from the recipe."""

from __future__ import annotations

import json
from typing import Any

from ..config.prompt import PromptStep
from ..provenance import Provenance


def _steps(records: list[dict[str, Any]]) -> dict[str, PromptStep]:
    """The first prompt step of each stage name found in the records."""
    found: dict[str, PromptStep] = {}
    for r in records:
        for step in Provenance.of_row(r).steps_of(PromptStep):
            found.setdefault(step.stage, step)
    return found


def prompt_stage_lines(records: list[dict[str, Any]], stages: list[dict[str, Any]],
                       names: list[str]) -> list[str]:
    """Markdown lines (none when the recipe has no prompt stage). ``stages`` and ``names``:
    the recipe's stages and their run names (``prompt``, ``prompt#2``)."""
    steps = _steps(records)
    out: list[str] = []
    for i, (s, name) in enumerate(zip(stages, names)):
        if s.get("method") != "prompt":
            continue
        step = steps.get(name) or PromptStep()
        template = step.prompt_template or s.get("template") or ""
        where = step.template or s.get("template_file") or "inline"
        out += [f"### {i + 1}. `{name}`", "", f"Template `{where}`:", "", "```jinja",
                template.rstrip() or "(no record of this run kept its text)", "```", ""]
        schema = step.output_schema or s.get("output_schema")
        if schema:
            out += ["The reply is JSON validated against this schema (a reply that does not "
                    "fit is asked again once, then dropped as `schema_invalid`); its fields "
                    "are in each record (instruction, input and output as themselves, the "
                    "others in `provenance.fields`):", "", "```json",
                    json.dumps(schema, ensure_ascii=False), "```", ""]
        else:
            field = s.get("field") or step.field
            where_to = (f"the record's `{field}`" if field in ("instruction", "input", "output")
                        else f"`provenance.fields.{field}`")
            out += [f"The reply is written to {where_to}; the value it replaced is kept in "
                    "the step's `previous`.", ""]
        if s.get("keep_if"):
            out += [f"Rows were kept only where `{s['keep_if']}` (the others: drops "
                    "`keep_if`, see Filtering).", ""]
    return (["## Prompt stages", "", "Steps the recipe wrote as prompts; each record's "
             "`provenance.steps` names the template and the schema it went through.", "",
             *out] if out else [])


__all__ = ["prompt_stage_lines"]
