"""What a run will cost before it starts: calls, tokens and time per stage (``tane plan``,
``tane run --dry-run``), and after it, how good that estimate was (``stats.json``).

The chain is walked backwards from the target. Each stage turns the records it must
pass on into the records it must receive (its keep rate) and into calls (calls per
record in); a generator turns them into calls (calls per record out). The rates come
from the ``stats.json`` of an earlier run in the same run directory when there is one
(``basis: earlier run``); otherwise each stage's config estimates itself
(``StageBase.estimate``) from the counts measured on real runs of its method, mode and
model class (``plan_rates.py``, made by ``bench/plan_rates.py``; ``basis: measured
rates``), or from the recipe alone where nothing was measured (``no drops assumed``: a
lower bound). This module knows no method by name.

Tokens: the prompt tokens of a call are the earlier run's average, or the rendered
prompts of this recipe (built from the bundled or given seeds) counted with the
model's tokenizer when the speed was measured on it, else with a characters-per-token
ratio. Completion tokens are the earlier run's average, or the stage's ``max_tokens``
(an upper bound). Time: the calls' tokens at the backend's measured speed (embedded: a
few seconds of decoding with the same model and threads; served: one short timed
request, or ``--tokens-per-second``). docs/plan.md says how close it comes.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config.llm import LLMConfig
from ..recipe import Recipe
from ..schema import Provenance, Record
from ..stage import Counts, Previews, prompt_text
from .stages import stage_configs
from ..config import plan_rates

PLAN_FILE = "plan.json"
# characters per token when no tokenizer was asked (Gemma 3 / Qwen-class tokenizers on
# the bundled seeds' prompts: about 1.3 characters a token in Japanese, 4 in English)
CHARS_PER_TOKEN = {"ja": 1.3, "en": 4.0}


@dataclass
class StageEstimate:
    name: str
    method: str
    model: str
    records_in: int
    records_out: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float = 0.0
    basis: str = "no drops assumed"
    role: str = "transform"
    why: str = ""  # how the stage's config estimated itself (no earlier run)
    calls_exact: bool = False  # calls follow from records_in alone (one per record, or none)
    completion_is_bound: bool = False  # completion tokens from max_tokens (at most)
    prompt_known: bool = True  # False: no earlier run and no prompt renderable offline


@dataclass
class Speed:
    """A backend's measured speed: decode and prompt tokens per second, and how."""

    decode_tps: float
    prompt_tps: float
    load_seconds: float = 0.0
    chars_per_token: float | None = None  # from a real prompt and the model's count
    how: str = ""


@dataclass
class Plan:
    recipe: str
    target: int | None
    stages: list[StageEstimate]
    tokens_from: str
    speed: dict[str, Speed] = field(default_factory=dict)
    history: str | None = None  # the stats.json the rates came from
    journaled: int = 0  # calls already in the run directory's journal (replayed free)
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.stages)

    @property
    def seconds(self) -> float | None:
        if not self.speed:
            return None
        return round(sum(s.seconds for s in self.stages)
                     + sum(sp.load_seconds for sp in self.speed.values()), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "target": self.target, "calls": self.calls,
                "prompt_tokens": sum(s.prompt_tokens for s in self.stages),
                "completion_tokens": sum(s.completion_tokens for s in self.stages),
                "seconds": self.seconds, "tokens_from": self.tokens_from,
                "history": self.history, "journaled": self.journaled, "notes": self.notes,
                "speed": {k: asdict(v) for k, v in self.speed.items()},
                "stages": [asdict(s) for s in self.stages]}


# -- rates measured on real runs (no earlier run here) --------------------------------

def model_class(cfg: LLMConfig) -> str:
    """The size class measured rates are kept under: ``tiny`` (under 1B parameters: the
    embedded model), ``small`` (under 10B), ``medium`` (under 40B), ``large``, or
    ``unknown`` when the served model's name says no size."""
    if cfg.backend == "embedded":
        return "tiny"
    m = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", (cfg.model or "").lower())
    if not m:
        return "unknown"
    size = float(m.group(1)) / (1000 if m.group(2) == "m" else 1)
    return ("tiny" if size < 1 else "small" if size < 10 else "medium" if size < 40
            else "large")


def rates_key(cfg: Any, llm: LLMConfig) -> str:
    """``method/mode/model class``: where a stage's measured counts are kept."""
    return f"{cfg.method}/{cfg.rate_mode()}/{model_class(llm)}"


def measured_counts(key: str) -> Counts:
    return dict(plan_rates.COUNTS.get(key) or {})


# -- rates from an earlier run --------------------------------------------------------

def read_history(out_dir: Path | None, recipe: Recipe) -> dict[str, Any] | None:
    """The earlier run's stats.json when it was made by a recipe of the same name and
    stages (another target is fine)."""
    if out_dir is None:
        return None
    stats, manifest = out_dir / "stats.json", out_dir / "manifest.json"
    try:
        st: dict[str, Any] = json.loads(stats.read_text(encoding="utf-8"))
        old = json.loads(manifest.read_text(encoding="utf-8")).get("recipe") or {}
    except (OSError, ValueError):
        return None
    new = recipe.model_dump(mode="json")
    if old.get("name") != new.get("name") or old.get("stages") != new.get("stages"):
        return None
    return st


def decided_only(stats: dict[str, Any], generator: bool) -> dict[str, Any]:
    """``stats`` with the transforms' ``over_target`` records taken out of what reached
    them: a small run cuts most of its records at the target, mostly before a call (the
    feed rule), so its rates are those of the records the stages decided on. A
    generator's cut records were made (their calls spent) and stay."""
    out: dict[str, Any] = json.loads(json.dumps(stats))
    for i, st in enumerate((out.get("stages") or {}).values()):
        cut = int((st.get("dropped") or {}).pop("over_target", 0))
        if cut and not (generator and i == 0):
            st["records_in"] = max(int(st.get("records_in", 0)) - cut, 0)
        elif cut:
            st["dropped"]["over_target"] = cut
    return out


def _passed(h: dict[str, Any]) -> int:
    """Records a stage passed on in the earlier run, counting those the target cut."""
    return int(h.get("kept", 0)) + int((h.get("dropped") or {}).get("over_target", 0))


def _calls(h: dict[str, Any]) -> int:
    return int(h.get("llm_calls", 0)) + int(h.get("cache_hits", 0))


# -- prompts, for token counts --------------------------------------------------------

def sample_prompts(runner: Any) -> dict[int, list[str]]:
    """Rendered prompts per stage index, where the stage can render one without a model
    (:class:`tane.stage.Previews`): a generator's first round, a per-record transform on
    a record made from a seed. Nothing is called."""
    out: dict[int, list[str]] = {}
    seeds = [s for s in runner.seeds if s.instruction.strip()][:4]
    for i, stage in enumerate(runner.stages):
        if not isinstance(stage, Previews):
            continue
        try:
            if runner.specs[i].role == "generator":
                got = [t for t in (stage.preview(None, j) for j in range(4)) if t]
            else:
                got = []
                for s in seeds:
                    for output in (None, s.output or "はい。"):  # a stage that writes the output, or reads it
                        rec = Record(id=f"plan-{s.id}", instruction=s.instruction,
                                     input=s.input, output=output,
                                     provenance=Provenance(method="plan"))
                        try:
                            text = stage.preview(rec, len(got))
                        except Exception:  # noqa: BLE001 - needs what the record lacks
                            continue
                        if text is not None:
                            got.append(text)
                            break
            if got:
                out[i] = got
        except Exception:  # noqa: BLE001 - a stage that cannot render offline: ratio only
            continue
    return out


# -- the plan ------------------------------------------------------------------------

def make_plan(runner: Any, out_dir: Path | None = None,
              speed: dict[str, Speed] | None = None,
              history: dict[str, Any] | None = None) -> Plan:
    """The estimate for ``runner``'s recipe and target (no call is made here).
    ``history``: the stats of an earlier run of this recipe to take the rates from,
    instead of ``out_dir``'s stats.json (a preview passes its own, see
    :func:`decided_only`)."""
    rec: Recipe = runner.recipe
    hist = history if history is not None else read_history(out_dir, rec)
    hstages = (hist or {}).get("stages") or {}
    prompts = sample_prompts(runner)
    speed = speed or {}
    goal = runner.goal
    rows = len(runner.source.records) if runner.source is not None else None
    need = goal if goal is not None else (rows or 0)
    lang = _lang(rec)
    tokens_from = "tokenizer" if any(s.chars_per_token for s in speed.values()) else \
        f"characters / {CHARS_PER_TOKEN.get(lang, 3.0)} per token"
    # a preview (``limit``) ran no target: its rates, never its calls again
    if hist and hist.get("target") == goal and "limit" not in hist and hstages:
        plan = _replay_plan(runner, hist, out_dir, speed, tokens_from)
        if plan is not None:
            return plan
    estimates: list[StageEstimate] = []
    own_less: list[str] = []
    unmeasured: list[str] = []
    for i in range(len(rec.stages) - 1, -1, -1):
        cfg, name, model = stage_configs(rec)[i], runner.names[i], runner.model_names[i]
        spec = runner.specs[i]
        h = hstages.get(name)
        out = need
        generator = spec.role == "generator"
        cost = None
        if generator and h and _passed(h) > 0:
            per = _calls(h) / _passed(h)
            basis = "earlier run"
            calls = math.ceil(out * per - 1e-9)
            rin, exact = 0, False
        elif not generator and h and int(h.get("records_in", 0)) > 0:
            rin_h = int(h["records_in"])
            calls_per, keep = _calls(h) / rin_h, _passed(h) / rin_h
            basis = "earlier run"
            rin = math.ceil(out / keep - 1e-9) if keep > 0 else out
            if rows is not None and i == 0:
                rin = min(rin, rows)
            calls = math.ceil(rin * calls_per - 1e-9)
            exact = calls_per in (0.0, 1.0) and not spec.ordered
        else:
            key = rates_key(cfg, rec.llm_for(model))
            cost = cfg.estimate(out, measured_counts(key))
            rin, calls = cost.records_in, cost.calls
            if rows is not None and i == 0 and not generator:
                rin = min(rin, rows)  # a source: file has only so many rows
                calls = math.ceil(cost.calls * rin / cost.records_in - 1e-9) \
                    if cost.records_in else calls
            exact = cost.exact and not spec.ordered
            basis = f"measured rates, {key}" if cost.measured else "no drops assumed"
            if not cost.own:
                own_less.append(f"{name} ({cfg.method})")
            elif not cost.measured:
                unmeasured.append(key)
        if not generator:
            need = rin
        ptok, ctok, bound = _tokens_per_call(h, prompts.get(i), cost, calls,
                                             speed.get(model), lang)
        est = StageEstimate(name, cfg.method, model, rin, out, calls, round(calls * ptok),
                            round(calls * ctok), basis=basis, role=spec.role,
                            why=cost.why if cost is not None else "",
                            calls_exact=exact, completion_is_bound=bound and calls > 0,
                            prompt_known=not calls or bool(h and h.get("llm_calls"))
                            or i in prompts)
        _time(est, speed.get(model), rec.llm_for(model))
        estimates.append(est)
        if generator:
            need = 0
    estimates.reverse()
    plan = Plan(rec.name, goal, estimates, tokens_from, speed,
                history=str(out_dir / "stats.json") if hist and out_dir else None)
    if hist:
        plan.journaled = int((hist.get("llm") or {}).get("journal_size", 0))
        plan.notes.append(f"rates from the earlier run in {out_dir} (its calls, "
                          f"{plan.journaled}, are in the journal: a rerun replays them free)")
    elif any(e.basis.startswith("measured") for e in estimates):
        plan.notes.append("no earlier run: drops and calls from the rates measured on real "
                          "runs of each stage's method, mode and model class (docs/plan.md); "
                          "run once with --out, then plan again there for this recipe's own")
    if unmeasured:
        plan.notes.append(f"no rates measured for {', '.join(sorted(set(unmeasured)))}: "
                          "nothing assumed dropped there, so those calls are a lower bound")
    if own_less:
        plan.notes.append(f"{', '.join(reversed(own_less))}: the method has no cost model "
                          "of its own (estimate() on its config), so one call a record and "
                          "no drops are assumed")
    unknown = [e.name for e in estimates if not e.prompt_known]
    if unknown:
        plan.notes.append(f"prompt tokens of {', '.join(unknown)} are not counted: tane "
                          "cannot render those prompts without running the stage (a first "
                          "run measures them)")
    return plan


def _reproducible(cfg: LLMConfig) -> bool:
    """One embedded slot decodes bit for bit the same (llm/embedded.py)."""
    return cfg.backend == "embedded" and cfg.slots == 1


def _replay_plan(runner: Any, hist: dict[str, Any], out_dir: Path | None,
                 speed: dict[str, Speed], tokens_from: str) -> Plan | None:
    """The same recipe and target ran here before: the same calls again. On a
    reproducible backend (embedded, one slot) that is exact, since sampling is seeded
    and decisions are taken in submission order; on a server, the same rates."""
    rec: Recipe = runner.recipe
    hs = hist.get("stages") or {}
    estimates = []
    for i, (cfg, name, model) in enumerate(zip(stage_configs(rec), runner.names,
                                               runner.model_names)):
        h = hs.get(name)
        if h is None:
            return None
        calls, new = _calls(h), int(h.get("llm_calls", 0))
        scale = calls / new if new else 0.0
        exact = _reproducible(rec.llm_for(model))
        est = StageEstimate(name, cfg.method, model, int(h.get("records_in", 0)),
                            int(h.get("kept", 0)), calls, round(h.get("prompt_tokens", 0) * scale),
                            round(h.get("completion_tokens", 0) * scale),
                            basis="earlier run, same target" + (" (exact)" if exact
                                                                else ""),
                            role=runner.specs[i].role, calls_exact=exact)
        _time(est, speed.get(model), rec.llm_for(model))
        estimates.append(est)
    plan = Plan(rec.name, runner.goal, estimates, "earlier run", speed,
                history=str(out_dir / "stats.json") if out_dir else None)
    plan.journaled = int((hist.get("llm") or {}).get("journal_size", 0))
    plan.notes.append(f"the same recipe and target ran in {out_dir}: the same calls again "
                      f"({plan.journaled} in its journal, replayed free by a rerun there)")
    return plan


def _lang(rec: Recipe) -> str:
    for st in stage_configs(rec):
        m = st.rate_mode()
        if m in CHARS_PER_TOKEN:
            return m
    return "ja"


def _time(est: StageEstimate, sp: Any, llm: LLMConfig) -> None:
    """The stage's seconds at the model's measured speed (none without a speed or calls)."""
    if sp is not None and est.calls:
        est.seconds = round((est.prompt_tokens / max(sp.prompt_tps, 1e-6)
                             + est.completion_tokens / max(sp.decode_tps, 1e-6))
                            / _parallel(llm), 1)


def _parallel(cfg: LLMConfig) -> float:
    if cfg.backend == "embedded":
        # llama.cpp's total over slots: x1.5 at 4 slots, x1.9 at 8 (measured, 2 cores)
        return 1.0 if cfg.slots == 1 else min(1 + 0.12 * cfg.slots, 2.0)
    return float(cfg.concurrency)


def _tokens_per_call(h: dict[str, Any] | None, prompts: list[str] | None, cost: Any,
                     calls: int, sp: Speed | None, lang: str) -> tuple[float, float, bool]:
    """(prompt tokens, completion tokens, completion is a bound) of one call."""
    new_calls = int((h or {}).get("llm_calls", 0))
    if h and new_calls > 0:
        return (h.get("prompt_tokens", 0) / new_calls, h.get("completion_tokens", 0) / new_calls,
                False)
    cpt = (sp.chars_per_token if sp and sp.chars_per_token else None) \
        or CHARS_PER_TOKEN.get(lang, 3.0)
    ptok = (sum(len(p) for p in prompts) / len(prompts) / cpt) if prompts else 0.0
    bound = cost.completion_tokens / cost.calls if cost is not None and cost.calls else 256.0
    return ptok, float(bound), True


# -- speed ----------------------------------------------------------------------------

def measure_embedded(cfg: LLMConfig, prompt: str, max_tokens: int = 96) -> Speed:
    """Load the embedded model as a run would (its threads) and decode ``max_tokens``
    tokens of ``prompt``: a few seconds."""
    from ..llm.embedded import EmbeddedBackend, gemma_path, start_server

    threads = EmbeddedBackend(slots=1, threads=cfg.threads).threads
    t0 = time.perf_counter()
    server = start_server(gemma_path(), slots=1, ctx_per_slot=2048, threads=threads)
    load = time.perf_counter() - t0
    # request fields as keywords: the field named prompt, quoted, would read as the method
    # of that name to the check that this module names no method
    r = server.handle_completions(dict(prompt=prompt or "はい", max_tokens=max_tokens,
                                       temperature=0.7, seed=1, ignore_eos=True,
                                       cache_prompt=False))
    tm = r.get("timings") or {}
    usage = r.get("usage") or {}
    ptoks = int(usage.get("prompt_tokens") or tm.get("prompt_n") or 0)
    return Speed(decode_tps=float(tm.get("predicted_per_second") or 0.0),
                 prompt_tps=float(tm.get("prompt_per_second") or 0.0),
                 load_seconds=round(load, 2),
                 chars_per_token=round(len(prompt) / ptoks, 3) if prompt and ptoks else None,
                 how=f"embedded, {threads} thread(s): {max_tokens} tokens decoded")


def measure_served(cfg: LLMConfig, prompt: str, chat: bool, max_tokens: int = 32,
                   timeout: float = 60.0) -> Speed:
    """One short timed request to the server (its first URL)."""
    import urllib.request

    url = cfg.urls[0].rstrip("/") + ("/chat/completions" if chat else "/completions")
    body: dict[str, Any] = {"model": cfg.model, "max_tokens": max_tokens, "temperature": 0.7}
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body.update(prompt=prompt)
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(cfg.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, json.dumps(body).encode(), headers)
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) only
        data = json.loads(resp.read().decode("utf-8"))
    dt = time.perf_counter() - t0
    usage = data.get("usage") or {}
    ctoks = int(usage.get("completion_tokens") or 0)
    ptoks = int(usage.get("prompt_tokens") or 0)
    tps = ctoks / dt if dt > 0 and ctoks else 0.0
    return Speed(decode_tps=round(tps, 2), prompt_tps=max(tps * 20, 1.0),
                 chars_per_token=round(len(prompt) / ptoks, 3) if ptoks else None,
                 how=f"served: one request of {ctoks} tokens in {dt:.2f} s "
                     "(latency included; one stream, times concurrency)")


def given_speed(tps: float) -> Speed:
    return Speed(decode_tps=tps, prompt_tps=tps * 20, how=f"given: {tps} tokens/s")


def speed_of_run(stats: dict[str, Any], recipe: Recipe) -> dict[str, Speed]:
    """Each model's speed as an earlier (small) run of this recipe measured it: its output
    tokens over the seconds its stages took (the whole run for a single model), prompt
    time included. ``_time`` divides by the model's parallelism, so the rate is stored per
    stream; a small run keeps fewer calls in flight than a full one, so on a server the
    time is an upper bound. Models whose calls all came from the journal: none."""
    stages = stats.get("stages") or {}
    names = list(stages)
    out: dict[str, Speed] = {}
    for model in sorted({str(st.get("model", "default")) for st in stages.values()}):
        mine = [stages[n] for n in names if stages[n].get("model", "default") == model]
        tokens = sum(int(st.get("completion_tokens", 0)) for st in mine)
        calls = sum(int(st.get("llm_calls", 0)) for st in mine)
        single = len({str(st.get("model", "default")) for st in stages.values()}) == 1
        secs = float(stats.get("wall_seconds") or 0.0) if single else \
            sum(float(st.get("wall_seconds", 0.0)) for st in mine)
        if not calls or not tokens or secs <= 0 or model not in {"default", *recipe.models}:
            continue
        rate = tokens / secs
        out[model] = Speed(decode_tps=rate / _parallel(recipe.llm_for(model)),
                           prompt_tps=1e12,
                           how=f"from the preview: {tokens} output tokens of {calls} calls "
                               f"in {secs:.1f} s, prompt time included")
    return out


# -- after the run --------------------------------------------------------------------

def save_plan(out_dir: Path, plan: Plan) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    p = out_dir / PLAN_FILE
    p.write_text(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return p


def load_plan(out_dir: Path, recipe: str, target: int | None) -> dict[str, Any] | None:
    """The plan saved in ``out_dir`` for this recipe and target, if any."""
    try:
        d = json.loads((out_dir / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if d.get("recipe") == recipe and d.get("target") == target else None


def accuracy(plan: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Predicted against actual: calls (per stage), tokens, seconds, and their ratios
    (actual / predicted)."""
    st = stats.get("stages") or {}
    stages = {}
    for s in plan.get("stages", []):
        a = st.get(s["name"]) or {}
        stages[s["name"]] = {"predicted_calls": s["calls"],
                             "actual_calls": _calls(a),
                             "predicted_records_in": s["records_in"],
                             "actual_records_in": a.get("records_in", 0)}
    llm = stats.get("llm") or {}
    actual = {"calls": int(llm.get("calls", 0)) + int(llm.get("cache_hits", 0)),
              "prompt_tokens": llm.get("prompt_tokens", 0),
              "completion_tokens": llm.get("completion_tokens", 0),
              "seconds": stats.get("wall_seconds")}
    predicted = {k: plan.get(k) for k in ("calls", "prompt_tokens", "completion_tokens",
                                          "seconds")}

    def ratio(k: str) -> float | None:
        p, a = predicted.get(k), actual.get(k)
        return round(a / p, 3) if p and a is not None else None

    return {"predicted": predicted, "actual": actual,
            "ratio": {k: ratio(k) for k in predicted}, "stages": stages,
            "basis": _basis(plan),
            "note": "ratio = actual / predicted; cache hits (replayed calls) count as calls"}


def _basis(plan: dict[str, Any]) -> str:
    """What the plan's rates came from: an earlier run here, rates measured on real runs
    (for at least one stage), or the recipe alone."""
    if plan.get("history"):
        return "earlier run"
    if any(str(s.get("basis", "")).startswith("measured") for s in plan.get("stages", [])):
        return "measured rates"
    return "no drops assumed"


def record_accuracy(out_dir: Path, plan: dict[str, Any]) -> dict[str, Any] | None:
    """Add ``estimate`` (see :func:`accuracy`) to ``out_dir/stats.json``."""
    p = out_dir / "stats.json"
    try:
        stats = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    est = stats["estimate"] = accuracy(plan, stats)
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stats, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(p)
    return est


__all__ = ["Plan", "Speed", "StageEstimate", "make_plan", "measure_embedded", "model_class",
           "rates_key", "measured_counts",
           "measure_served", "given_speed", "speed_of_run", "save_plan", "load_plan", "accuracy",
           "record_accuracy", "read_history", "sample_prompts", "decided_only"]
