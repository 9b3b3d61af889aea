"""The LLM judge: a transform stage that grades each record and selects by thresholds.

For each record the judge renders a rubric (``prompts/judge/{ja,en}_{completion,chat}.j2``)
and asks for a verdict::

    {"reason": str, "quality": 1-5, "difficulty": "very easy".."very hard",
     "category": one of the Magpie-style task tags}

Where the backend declares JSON_SCHEMA the output is constrained by :func:`verdict_schema`;
either way it is parsed strictly (:func:`parse_verdict`: the first ``{...}`` block through
``json.loads``, every field and range checked). An unparseable verdict is retried ONCE with
a different seed (and ``retry_temperature`` when sampling is greedy, since a greedy rerun
would repeat the same text). A verdict that still does not parse is never a score: it is
recorded as a judge step (:class:`~tane.config.judge.JudgeStep`) with ``status: unparseable`` and the raw reply; such rows are
dropped (``judge_unparseable``) only when a threshold is configured, else kept unscored.

Drop reasons: ``judge_low_quality`` (quality < min_quality), ``judge_difficulty``
(harder than max_difficulty), ``judge_category`` (not in categories),
``judge_unparseable``, ``llm_error:<reason>`` (a failed call, thresholds configured).
A drop's detail keeps the judged input and output (``record``), as a curate drop does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..llm.base import JSON_SCHEMA, Completion, GenParams
from ..prompts import check_overrides, load_template
from ..config.judge import JUDGE_CATEGORIES, JUDGE_DIFFICULTIES, JudgeStage, JudgeStep
from ..schema import Drop, Record
from ..verdicts import VerdictError, first_json_object
from .base import KINDS, RecordTransform, Request, StageContext, as_messages, to_params

RAW_KEEP = 2000  # characters of raw judge output kept in provenance


@dataclass(frozen=True)
class Verdict:
    quality: int
    reason: str
    difficulty: str
    category: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict_schema(reason_max_chars: int = 200) -> dict[str, Any]:
    """The JSON schema of a verdict (``reason`` first, so the model explains, then scores)."""
    return {
        "title": "verdict",
        "type": "object",
        "properties": {
            "reason": {"type": "string", "minLength": 1, "maxLength": reason_max_chars},
            "quality": {"type": "integer", "minimum": 1, "maximum": 5},
            "difficulty": {"type": "string", "enum": list(JUDGE_DIFFICULTIES)},
            "category": {"type": "string", "enum": list(JUDGE_CATEGORIES)},
        },
        "required": ["reason", "quality", "difficulty", "category"],
        "additionalProperties": False,
    }


def _label(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if not isinstance(value, str):
        raise VerdictError(f"{field} is not a string: {value!r}")
    norm = " ".join(value.strip().lower().replace("_", " ").split())
    if norm not in allowed:
        raise VerdictError(f"{field} {value!r} is not one of {', '.join(allowed)}")
    return norm


def parse_verdict(text: str) -> Verdict:
    """The first ``{...}`` block of ``text`` as a verdict; VerdictError if anything is off."""
    obj = first_json_object(text)
    missing = [k for k in ("quality", "reason", "difficulty", "category") if k not in obj]
    if missing:
        raise VerdictError(f"missing fields: {', '.join(missing)}")
    q = obj["quality"]
    if isinstance(q, bool) or not isinstance(q, (int, float)) or q != int(q):
        raise VerdictError(f"quality is not an integer: {q!r}")
    if not 1 <= int(q) <= 5:
        raise VerdictError(f"quality {q} is out of range 1-5")
    reason = obj["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise VerdictError("reason is empty or not a string")
    return Verdict(quality=int(q), reason=reason.strip(),
                   difficulty=_label(obj["difficulty"], JUDGE_DIFFICULTIES, "difficulty"),
                   category=_label(obj["category"], JUDGE_CATEGORIES, "category"))


class Judge(RecordTransform):
    """A per-record LLM transform: the verdict request, and a retry with another seed as
    the follow-up of a verdict that does not parse."""

    method = "judge"

    def __init__(self, cfg: JudgeStage, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.kind = KINDS[cfg.prompt_style]
        name = f"{cfg.mode}_{cfg.prompt_style}"
        check_overrides(cfg.templates, [name])
        self.tpl = load_template("judge", name, cfg.templates, ctx.base_dir)
        self.stop = ("\n###", "\n\n\n") if self.kind == "completion" else ()
        self.schema = verdict_schema(cfg.reason_max_chars)
        self.max_rank = (JUDGE_DIFFICULTIES.index(cfg.max_difficulty)
                         if cfg.max_difficulty else None)

    @property
    def selects(self) -> bool:
        c = self.cfg
        return c.min_quality is not None or c.max_difficulty is not None or bool(c.categories)

    def _constrained(self) -> bool:
        caps = getattr(self.ctx.llm, "capabilities", frozenset()) or frozenset()
        return self.cfg.json_schema and JSON_SCHEMA in caps

    def prompt(self, rec: Record) -> Request:
        """The verdict request. Its ``state`` carries the verdict so far (``verdict``: the
        attempts) and the prompt the judge's provenance shows."""
        text = self.tpl.render(instruction=rec.instruction, input=rec.input, output=rec.output)
        sent = text if self.kind == "completion" else as_messages(text)
        return self._ask(rec, sent, 0, {"verdict": {"attempts": []},
                                        "prompt": text if self.kind == "completion" else sent})

    def _ask(self, rec: Record, sent: Any, attempt: int, state: dict[str, Any]) -> Request:
        return Request(self.kind, sent, self.params(rec, attempt),
                       state=state | {"attempt": attempt})

    def params(self, rec: Record, attempt: int) -> GenParams:
        s = self.cfg.sampling
        p = to_params(s, self.stop, self.ctx.seed_for("judge", rec.id, attempt))
        if attempt > 0 and p.temperature == 0.0:
            p = replace(p, temperature=self.cfg.retry_temperature)
        if self._constrained():
            # not sort_keys: "reason" must stay first (explain, then score)
            p = replace(p, json_schema=json.dumps(self.schema, ensure_ascii=False,
                                                  separators=(",", ":")))
        return p

    @staticmethod
    def _info(req: Request) -> dict[str, Any]:
        p = req.params
        return {"seed": p.seed, "temperature": p.temperature,
                "constrained": p.json_schema is not None}

    def parse(self, rec: Record, req: Request, res: Completion) -> Record | Drop | Request:
        v = req.state["verdict"]
        info = self._info(req) | {"raw": res.text[:RAW_KEEP], "finish_reason": res.finish_reason}
        try:
            verdict = parse_verdict(res.text)
        except VerdictError as e:
            info["parse_error"] = str(e)
            v["attempts"].append(info)
            v.update(status="unparseable", raw=res.text[:RAW_KEEP], parse_error=str(e))
            if req.state["attempt"] == 0:  # once more, with another seed
                return self._ask(rec, req.prompt, 1, req.state)
            return self._judged(rec, req, v)
        v["attempts"].append(info)
        v.pop("parse_error", None)
        v.update(status="ok", raw=res.text[:RAW_KEEP], finish_reason=res.finish_reason,
                 **verdict.to_dict())
        return self._judged(rec, req, v)

    def failed(self, rec: Record, req: Request, drop: Drop) -> Record | Drop:
        """A failed call: the record kept unscored, or dropped when a threshold is set (the
        retry wrapper has already retried the call itself)."""
        v, reason = req.state["verdict"], drop.reason.split(":", 1)[1]
        v["attempts"].append(self._info(req) | {"error": reason})
        v.update(status="error", error=reason)
        return self._judged(rec, req, v, drop.detail.get("error"))

    def step(self, record: Record, request: Request, completion: Completion) -> None:
        return None  # the verdict is the record's judge step (_judged)

    def _select(self, v: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Drop (reason, detail) for a verdict, or None to keep."""
        c = self.cfg
        if not self.selects:
            return None
        if v["status"] == "error":
            return f"llm_error:{v.get('error')}", {}
        if v["status"] != "ok":
            return "judge_unparseable", {"raw": (v.get("raw") or "")[:500],
                                         "parse_error": v.get("parse_error", "")}
        if c.min_quality is not None and v["quality"] < c.min_quality:
            return "judge_low_quality", {"score": v["quality"], "min_quality": c.min_quality,
                                         "reason": v["reason"]}
        if self.max_rank is not None and \
                JUDGE_DIFFICULTIES.index(v["difficulty"]) > self.max_rank:
            return "judge_difficulty", {"difficulty": v["difficulty"],
                                        "max_difficulty": c.max_difficulty}
        if c.categories and v["category"] not in c.categories:
            return "judge_category", {"category": v["category"], "categories": c.categories}
        return None

    def _judged(self, rec: Record, req: Request, v: dict[str, Any],
                error: str | None = None) -> Record | Drop:
        """The record with its verdict in provenance, or the drop its verdict selects."""
        ctx = self.ctx
        judge = {"stage": ctx.name, "method": JudgeStep.METHOD, "status": v["status"], **ctx.model_provenance(self.kind),
                 "template": self.tpl.id, "prompt_style": self.cfg.prompt_style,
                 "prompt": req.state["prompt"], "sampling": self.cfg.sampling.model_dump()}
        judge |= {k: v[k] for k in ("quality", "reason", "difficulty", "category",
                                    "raw", "parse_error", "error", "finish_reason")
                  if k in v}
        judge["attempts"] = v["attempts"]
        new = rec.model_copy(update={"provenance": rec.provenance.with_step(
            JudgeStep.model_validate(judge))})
        res = self._select(v)
        if res is None:
            return new
        reason, detail = res
        # the fields the judge read, so a dropped record can be read (tane show)
        seen = {k: v for k, v in (("input", rec.input), ("output", rec.output)) if v}
        if seen:
            detail["record"] = seen
        if error is not None:
            detail["error"] = error  # the server's message of the failed call
        # built directly: the detail has its own "reason" (the judge's), which
        # ctx.drop(**detail) cannot take
        return Drop(stage=ctx.name, reason=reason, text=rec.instruction, record_id=rec.id,
                    detail=detail)
