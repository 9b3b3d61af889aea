"""``tane eval run EVAL.yaml``: every step of an evaluation from one file.

```yaml
bench: bundled:elyza_ja            # or a file / tane run directory, relative to this file
out: runs/eval-elyza               # the eval directory (--out overrides)
# format: auto   references: gpt-4.jsonl   limit: 20   lang: ja
models:                            # who answers (an llm: section each, plus style)
  base:  {base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-7B-Instruct, license: apache-2.0}
  tuned: {base_url: http://127.0.0.1:8000/v1, model: my-lora, license: apache-2.0}
judges:                            # who judges
  qwen32: {base_url: http://10.0.0.2:8000/v1, model: Qwen/Qwen2.5-32B-Instruct, concurrency: 32}
answer: {max_tokens: 1024}         # temperature 0, seed 0, no system message by default
grade: {scale: 5}                  # every judge grades every model (judges:, models: to narrow)
compare:
  - {a: tuned, b: base, levels: 3}  # every judge, both orders
report: true                       # or {ja_min: 0.5, difficulty: difficulty.jsonl}
```

Each step runs as its command would (same journal, same files, same resume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..config.base import Strict
from ..config.llm import LLMConfig
from ..errors import TaneError
from ..recipe import read_yaml_mapping
from ..yaml_errors import error_at, line_of
from .bench import FORMATS
from .models import ModelSpec, check_name


class EvalModel(LLMConfig):
    style: Literal["chat", "completion"] = "chat"

    @model_validator(mode="before")
    @classmethod
    def _served_when_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("base_url") and "backend" not in data:
            data = dict(data, backend="openai")
        return data

    def spec(self, name: str) -> ModelSpec:
        data = self.model_dump()
        style = data.pop("style")
        return ModelSpec(name, LLMConfig.model_validate(data), style)


class AnswerSection(Strict):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1, le=32768)
    seed: int = 0
    system: str | None = None


class JudgeSection(Strict):
    judges: list[str] | None = Field(None, description="default: every judge")
    max_tokens: int = Field(512, ge=32, le=32768)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int = 0
    reference: Literal["auto", "always", "never"] = "auto"
    lang: Literal["ja", "en"] | None = None


class GradeSection(JudgeSection):
    scale: Literal[5, 10] | None = None
    logprobs: int = Field(0, ge=0, le=20, description="top tokens per position; 0: off")
    models: list[str] | None = Field(None, description="default: every model")


class CompareSection(JudgeSection):
    a: str
    b: str
    levels: Literal[3, 5] = 3


class ReportSection(Strict):
    """The options of ``tane eval report``, under the same names."""

    ja_min: float | None = Field(None, gt=0.0, le=1.0, description="--ja-min")
    difficulty: str | None = Field(None, min_length=1, description="--difficulty")


class EvalPlan(Strict):
    bench: str
    format: Literal["auto", *FORMATS] = "auto"  # type: ignore[valid-type]
    references: str | None = None
    lang: Literal["ja", "en"] | None = None
    limit: int | None = Field(None, ge=1)
    out: str | None = None
    models: dict[str, EvalModel] = Field(min_length=1)
    judges: dict[str, EvalModel] = Field(default_factory=dict)
    answer: AnswerSection = Field(default_factory=AnswerSection)
    grade: GradeSection | None = None
    compare: list[CompareSection] = Field(default_factory=list)
    report: ReportSection | None = Field(default_factory=ReportSection)
    _root: Any = PrivateAttr(None)  # the YAML nodes, for the line of a later check

    @field_validator("report", mode="before")
    @classmethod
    def _report_flag(cls, v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return {} if v else None
        if not isinstance(v, dict):
            raise ValueError("expected true, false or a mapping (ja_min, difficulty)")
        return v

    def line(self, *loc: Any) -> int | None:
        """The line of ``loc`` (e.g. ``"report", "ja_min"``) in the plan file."""
        return line_of(self._root, loc)

    @model_validator(mode="after")
    def _names(self) -> EvalPlan:
        for section in ("models", "judges"):
            for name in getattr(self, section):
                check_name(name, section)
        if (self.grade is not None or self.compare) and not self.judges:
            raise ValueError("grade and compare need judges:")
        sections = ([("grade", self.grade)] if self.grade is not None else []) + \
            [(f"compare.{i}", c) for i, c in enumerate(self.compare)]
        for where, sec in sections:
            for j in sec.judges or []:
                if j not in self.judges:
                    raise ValueError(f"{where}.judges: no judge named {j!r} (judges: "
                                     f"{', '.join(self.judges)})")
        if self.grade is not None:
            for m in self.grade.models or []:
                if m not in self.models:
                    raise ValueError(f"grade.models: no model named {m!r}")
        for i, c in enumerate(self.compare):
            for side in ("a", "b"):
                name = getattr(c, side)
                if name not in self.models and not (side == "b" and name == "baseline"):
                    raise ValueError(f"compare.{i}.{side}: no model named {name!r}")
        return self

    def judge_names(self, sec: JudgeSection) -> list[str]:
        return list(sec.judges) if sec.judges else list(self.judges)


def load_plan(path: str | Path) -> tuple[EvalPlan, Path]:
    """The plan and the directory its relative paths start from."""
    p = Path(path)
    root, data = read_yaml_mapping(p, "eval plan")
    try:
        plan = EvalPlan.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        raise error_at(msg.removeprefix("Value error, "), p, root, loc) from None
    plan._root = root
    base = p.resolve().parent
    table = plan.report.difficulty if plan.report is not None else None
    if table is not None and not Path(resolve(base, table)).is_file():
        raise TaneError(f"no such difficulty table: {resolve(base, table)}", path=str(p),
                        line=plan.line("report", "difficulty"), field="report.difficulty")
    return plan, base


def resolve(base: Path, value: str) -> str:
    if value.startswith("bundled:") or Path(value).is_absolute():
        return value
    return str(base / value)


def report_options(plan: EvalPlan, plan_file: str | Path, base: Path, bench: Any
                   ) -> dict[str, Any]:
    """The plan's ``report:`` options as ``write_report``'s keywords, checked before any
    step runs: ``ja_min`` on a benchmark of another language, a difficulty table that is
    unreadable or (with comparisons to make) misses an item of the benchmark."""
    sec = plan.report
    if sec is None:
        return {}
    if sec.ja_min is not None and bench.lang != "ja":
        raise TaneError(f"ja_min is for Japanese benchmarks; this one is {bench.lang}",
                        path=str(plan_file), line=plan.line("report", "ja_min"),
                        field="report.ja_min")
    table = None
    if sec.difficulty is not None:
        from .report_load import read_difficulty

        table = Path(resolve(base, sec.difficulty))
        known = read_difficulty(table)
        missing = [it.id for it in bench.items if str(it.id) not in known]
        if missing and plan.compare:
            raise TaneError(f"no difficulty for item {missing[0]!r} ({len(missing)} items of "
                            "the benchmark have none)", path=str(table), field="item_id")
    return {"ja_min": sec.ja_min, "difficulty": table}
