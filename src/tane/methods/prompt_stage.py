"""A prompt stage: a step of the recipe's own, written as a template instead of Python.

For each record the template (``template:`` or ``template_file:``) is rendered over
``instruction``, ``input``, ``output``, ``id``, ``fields`` (the named fields earlier prompt
stages wrote), ``provenance`` (the grid cell, the judge's verdict, ...) and ``seeds``.

- ``field: NAME``: the reply, stripped, becomes that field: the record's instruction,
  input or output, or a named field kept in ``provenance.fields``. The value it replaces
  is kept in the step's provenance (``previous``).
- ``output_schema:``: the reply is read as JSON (the first ``{...}`` object) and
  validated against the schema, which is also sent as ``response_format`` where the
  backend takes one. A reply that fails is asked again once (another seed; at
  ``retry_temperature`` when sampling is greedy); a second failure is the drop
  ``schema_invalid`` with the raw replies. Fields named instruction, input or output set
  those; the others land in ``provenance.fields``. ``keep_if`` then keeps or drops the
  record (drop ``keep_if``, with the values it read).

A per-record LLM transform (:class:`~tane.methods.base.RecordTransform`): the engine
makes the calls, journals them, counts them and records ``llm_error:*`` drops. The
template (its id and text) and the schema go into each record's step of provenance.
Drops: ``schema_invalid``, ``keep_if``, ``truncated`` (``field:``, the reply cut at
``max_tokens``), ``empty_reply``, ``template_error`` (the template cannot be rendered
for this record, e.g. a ``fields.NAME`` it lacks).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2

from ..config.output_schema import validate
from ..config.prompt import PromptStage, unknown_names
from ..errors import TaneError
from ..llm.base import JSON_SCHEMA, Completion, GenParams
from ..schema import Drop, Record
from ..stage import FIELDS, Request
from ..verdicts import VerdictError, first_json_object
from .base import KINDS, Batch, RecordTransform, StageContext, as_messages

RAW_KEEP = 2000  # characters of a reply kept in a drop's detail
SCHEMA_INVALID = "schema_invalid"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                          autoescape=False)


def load_source(cfg: PromptStage, base_dir: Path | None) -> tuple[str, str]:
    """(template text, where it came from) of the stage; a file it names is checked here."""
    if cfg.template is not None:
        return cfg.template, "inline"
    path = Path(cfg.template_file or "")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise TaneError("template file not found", path=str(path), field="template_file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TaneError(f"cannot read the template file as UTF-8 text: {e}", path=str(path),
                        field="template_file") from None
    return text, cfg.template_file or str(path)


class PromptTransform(RecordTransform):
    method = "prompt"

    def __init__(self, cfg: PromptStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.kind = KINDS[cfg.prompt_style]
        self.source, origin = load_source(cfg, ctx.base_dir)
        where = "template" if cfg.template is not None else "template_file"
        try:
            self.tpl = _ENV.from_string(self.source)
            bad = unknown_names(self.source)
        except jinja2.TemplateSyntaxError as e:
            raise TaneError(f"template syntax error (line {e.lineno} of the template): "
                            f"{e.message}", field=where) from None
        if bad:
            raise TaneError(f"the template names {', '.join(bad)}: it may use instruction, "
                            "input, output, id, fields, provenance, seeds (a named field as "
                            "fields.NAME)", field=where)
        digest = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:8]
        self.template_id = f"{origin}@{digest}"
        self.schema = cfg.schema
        self.rule = cfg.rule()
        self.seeds = [{"id": s.id, "instruction": s.instruction, "input": s.input,
                       "output": s.output} for s in ctx.seeds]
        self.sampling = cfg.sampling.model_dump()
        if cfg.stop is not None:
            self.stop = tuple(cfg.stop)
        else:
            self.stop = (("\n###", "\n\n\n") if self.kind == "completion"
                         and self.schema is None else ())

    # -- the prompt --------------------------------------------------------------------
    def render(self, rec: Record) -> str:
        prov = rec.provenance
        return self.tpl.render(instruction=rec.instruction, input=rec.input,
                               output=rec.output or "", id=rec.id,
                               fields=prov.named_fields(), provenance=prov.view(),
                               seeds=self.seeds)

    def _constrained(self) -> bool:
        caps = getattr(self.ctx.llm, "capabilities", frozenset()) or frozenset()
        return self.schema is not None and self.cfg.json_schema and JSON_SCHEMA in caps

    def prompt(self, rec: Record) -> Request | None:
        return self._request(rec, 0)

    def _request(self, rec: Record, attempt: int, first: Drop | None = None) -> Request:
        """The request of ``attempt`` (1: the retry after ``first``, a reply that failed
        the schema)."""
        text = self.render(rec)
        params = GenParams(**self.sampling, stop=self.stop,
                           seed=self.ctx.seed_for("prompt", rec.id, attempt))
        if attempt and params.temperature == 0.0:
            params = replace(params, temperature=self.cfg.retry_temperature)
        if self.ctx.llm is not None and self._constrained():
            params = replace(params, json_schema=json.dumps(
                self.schema, ensure_ascii=False, separators=(",", ":")))
        sent = text if self.kind == "completion" else as_messages(text, self.cfg.system)
        meta: dict[str, Any] = {
            "template": self.template_id, "prompt_template": self.source,
            "sampling": self.sampling | {"seed": params.seed, "stop": list(params.stop)}}
        if self.schema is not None:
            meta |= {"output_schema": self.schema, "constrained": params.json_schema is not None}
            if self.cfg.keep_if:
                meta["keep_if"] = self.cfg.keep_if
        else:
            meta["field"] = self.cfg.field
        if attempt:
            meta["attempt"] = attempt + 1
        return Request(self.kind, sent, params, meta, state=first)

    # -- the reply ---------------------------------------------------------------------
    def parse(self, rec: Record, req: Request, res: Completion) -> Record | Drop | Request:
        if self.schema is None:
            return self._field(rec, req, res)
        try:
            values = first_json_object(res.text)
        except VerdictError as e:
            return self._invalid(rec, req, res, str(e))
        bad = validate(self.schema, values)
        if bad:
            return self._invalid(rec, req, res, bad)
        values = _ints(self.schema, values)
        core = {k: v for k, v in values.items() if k in FIELDS}
        named = {k: v for k, v in values.items() if k not in FIELDS}
        out = self._with(rec, core, named, req)
        if self.rule is not None and not self.rule.test(values):
            seen = {k: v for k, v in (("input", rec.input), ("output", rec.output)) if v}
            return self.ctx.drop("keep_if", rec.instruction, rec.id, keep_if=self.cfg.keep_if,
                                 values=values, **({"record": seen} if seen else {}))
        return out

    def _field(self, rec: Record, req: Request, res: Completion) -> Record | Drop:
        text = res.text.strip()
        if res.finish_reason == "length":
            return self.ctx.drop("truncated", rec.instruction, rec.id, field=self.cfg.field,
                                 raw=res.text[:RAW_KEEP])
        if not text:
            return self.ctx.drop("empty_reply", rec.instruction, rec.id, field=self.cfg.field)
        name = self.cfg.field or ""
        if name in FIELDS:
            return self._with(rec, {name: text}, {}, req)
        return self._with(rec, {}, {name: text}, req)

    def _with(self, rec: Record, core: dict[str, Any], named: dict[str, Any],
              req: Request) -> Record:
        """The record with its new values; what they replace goes into the request's
        meta, which the engine appends to the record's steps."""
        old = rec.provenance.named_fields()
        previous = {k: getattr(rec, k) for k in core if getattr(rec, k) not in (None, "")}
        previous |= {f"fields.{k}": old[k] for k in named if k in old}
        if previous:
            req.meta["previous"] = previous
        prov = rec.provenance
        if named:
            prov = prov.with_fields(old | named)
        return rec.model_copy(update=core | {"provenance": prov})

    def _invalid(self, rec: Record, req: Request, res: Completion, why: str
                 ) -> Drop | Request:
        """A reply that fails the schema: asked again once (the follow-up), then the drop
        with both replies."""
        first: Drop | None = req.state
        if first is None:
            return self._request(rec, 1, self.ctx.drop(
                SCHEMA_INVALID, rec.instruction, rec.id, error=why, raw=res.text[:RAW_KEEP],
                finish_reason=res.finish_reason))
        return self.ctx.drop(SCHEMA_INVALID, rec.instruction, rec.id, error=why,
                             raw=res.text[:RAW_KEEP],
                             first={k: first.detail.get(k) for k in ("error", "raw")},
                             attempts=2)

    # -- records whose template cannot be rendered --------------------------------------
    async def process(self, records: list[Record]) -> Batch:
        ctx, batch = self.ctx, Batch()
        ready: list[Record] = []
        for rec in records:
            try:
                self.render(rec)
            except jinja2.TemplateError as e:
                batch.drops.append(ctx.drop("template_error", rec.instruction, rec.id,
                                            error=str(e)[:500]))
            else:
                ready.append(rec)
        if not ready:
            return batch
        made = await super().process(ready)
        batch.records += made.records
        batch.drops += made.drops
        return batch


def _ints(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Integer fields a reply wrote as 3.0, as 3."""
    props = schema.get("properties") or {}
    return {k: (int(v) if isinstance(v, float) and props.get(k, {}).get("type") == "integer"
                else v) for k, v in values.items()}


__all__ = ["PromptTransform", "load_source"]
