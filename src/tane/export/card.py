"""The Hugging Face dataset card (README.md) and NOTICE written beside an export.

Everything in the card comes from the run directory: the recipe from ``manifest.json``, the
models and their roles from each record's provenance (:meth:`Provenance.made_by` for the
stage that wrote the instruction, the steps for later ones such as ``answer``), drops per reason from ``stats.json``, and the
licences from :mod:`tane.export.licences`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..config.judge import JudgeStep
from ..config.llm import hide_url_keys
from ..config.registry import METHODS
from ..errors import TaneError
from ..provenance import Provenance
from .base import ExportReport, RunData, write_text
from .card_sampled import sampled_lines
from .licences import Match, combination_warnings, lookup
from .output_authors import output_lines
from .prompt_stages import prompt_stage_lines
from .summaries import (judge_lines, judge_summary, read_reviews, review_lines,
                        web_review_lines)

MARKER = "<!-- written by tane export; rerunning the export overwrites this file -->"
# methods whose records' instructions were written by a model ("generation" in the card)
GENERATORS = {n for n, m in METHODS.items() if m.config.writes_instructions}
METHOD_TEXT = {n: m.card_text for n, m in METHODS.items()}


def check_card_target(directory: Path) -> None:
    """Refuse to overwrite a README.md that tane did not write."""
    readme = directory / "README.md"
    if readme.exists() and MARKER not in readme.read_text(encoding="utf-8", errors="replace"):
        raise TaneError("a README.md that tane did not write is already there; export into "
                        "its own directory (or pass --no-card)", path=str(readme))


def size_category(n: int) -> str:
    for limit, cat in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                       (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return cat
    return "10M<n<100M"


def model_roles(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """model id -> {roles: {role: records}, licence (declared), backend}."""
    models: dict[str, dict[str, Any]] = {}

    def add(model: str, role: str, licence: str, backend: str) -> None:
        m = models.setdefault(model or "(not recorded)",
                              {"roles": {}, "declared": licence, "backend": backend})
        m["roles"][role] = m["roles"].get(role, 0) + 1

    for rec in records:
        prov = Provenance.of_row(rec)
        made = prov.made_by()  # the origin, or the step that rewrote the record last
        add(made.model, "generation" if made.method in GENERATORS else made.method,
            made.license, made.backend)
        for step in prov.all_steps():
            if step.parent_id:
                continue  # a rewrite: the last one made the record, counted above
            if step.method == JudgeStep.METHOD and not step.model:
                continue  # a verdict without a model (none was recorded)
            add(step.model, step.method or step.stage or "step", step.license, step.backend)
    return models


def card_licence(matches: list[Match], seeds_apache: bool) -> dict[str, Any]:
    """The card's ``license:``: the Hub's id of the one licence that covers the data
    (``apache-2.0``, ``gemma``, ``llama3.1`` …), else ``other`` with ``license_name``
    naming every licence involved (and ``license_link`` when there is one link)."""
    lics = list({m.licence.id: m.licence for m in matches}.values())
    if seeds_apache and len(lics) == 1 and lics[0].hf_id != "other":
        return {"license": lics[0].hf_id}
    names = [lic.id for lic in lics] + ([] if seeds_apache else ["user-seeds"])
    out: dict[str, Any] = {"license": "other",
                           "license_name": "-and-".join(names) or "unknown"}
    if len(lics) == 1 and lics[0].url and seeds_apache:
        out["license_link"] = lics[0].url
    return out


# the fields of one exported row, per format: (field, type, what)
SCHEMA: dict[str, list[tuple[str, str, str]]] = {
    "messages": [("messages", "list of {role, content}",
                  ("the conversation: an optional system turn, then user and assistant turns "
                  "(TRL's chat format)"))],
    "alpaca": [("instruction", "string", ("the task (the last user turn of a multi-turn "
                                         "record)")),
               ("input", "string", "the task's input, empty when it has none"),
               ("output", "string", "the answer"),
               ("system", "string", "system prompt, empty when none was given"),
               ("history", "list of [instruction, output]",
                "earlier turns of a multi-turn record (LLaMA-Factory), else empty")],
    "sharegpt": [("conversations", "list of {from, value}",
                  "turns: from is human or gpt"),
                 ("system", "string", "system prompt, empty when none was given")],
    "jsonl": [("id", "string", "record id, stable across reruns"),
              ("instruction", "string", "the task"),
              ("input", "string", "the task's input, empty when it has none"),
              ("output", "string", "the answer"),
              ("provenance", "object", ("how the record was made: method, model, licence, "
                                       "seed ids, sampling parameters and seed, prompt "
                                       "template id, later steps, scores, human review"))],
}
SAMPLE_ROWS = 3
SAMPLE_CHARS = 300


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > SAMPLE_CHARS:
        return value[:SAMPLE_CHARS] + "…"
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value


def sample_rows(run: RunData, report: ExportReport) -> list[dict[str, Any]]:
    """The first rows of the train file as written (JSONL or Parquet)."""
    import json

    path = report.files.get("train") or next(iter(report.files.values()), None)
    if path is None or not path.exists():
        return []
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).slice(0, SAMPLE_ROWS).to_pylist()
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == SAMPLE_ROWS:
                break
    return rows


def schema_lines(fmt: str) -> list[str]:
    rows = SCHEMA.get(fmt, [])
    return ["| field | type | what |", "|---|---|---|",
            *(f"| `{f}` | {t} | {w} |" for f, t, w in rows)]


def _languages(manifest: dict[str, Any]) -> list[str]:
    recipe = manifest.get("recipe") or {}
    langs = [s.get("mode") for s in recipe.get("stages") or [] if s.get("mode")]
    seeds = (recipe.get("seeds") or {}).get("path", "")
    if seeds.startswith("bundled:"):
        langs.append(seeds.split(":", 1)[1])
    return sorted(set(langs)) or ["ja"]


def build_card(run: RunData, report: ExportReport, commercial: bool = True
               ) -> tuple[str, str | None, list[str]]:
    """(README.md text, NOTICE text or None, warnings)."""
    manifest, stats = run.manifest, run.stats
    recipe = manifest.get("recipe") or {}
    models = model_roles(run.records)
    matches = {m: lookup(m, info["declared"]) for m, info in models.items()}
    warnings: list[str] = []
    for m in matches.values():
        warnings.extend(m.warnings)
    warnings += combination_warnings([m.licence for m in matches.values()], commercial)
    seeds_path = (manifest.get("seeds") or {}).get("path") or \
        (recipe.get("seeds") or {}).get("path", "")
    bundled = seeds_path.startswith("bundled:")
    if seeds_path and not bundled:
        warnings.append(f"seed file {seeds_path}: its licence is not recorded; state it in "
                        "the card before publishing")
    n = sum(report.counts.values())
    reviews = read_reviews(run.path)
    methods = [s.get("method", "") for s in recipe.get("stages") or []]
    authors, author_warnings = output_lines(run.records, methods)
    warnings += author_warnings
    header = card_licence(list(matches.values()), bundled) | {
        "language": _languages(manifest),
        "task_categories": ["text-generation"],
        "size_categories": [size_category(n)],
        "annotations_creators": ["machine-generated"],
        "language_creators": ["machine-generated"],
        "pretty_name": recipe.get("name") or run.path.name,
        "tags": ["synthetic", "tane", "instruction-tuning", *dict.fromkeys(methods)],
        "configs": [{"config_name": "default", "data_files": [
            {"split": s, "path": p.name} for s, p in report.files.items()]}],
    }
    L: list[str] = ["---", yaml.safe_dump(header, allow_unicode=True, sort_keys=False).strip(),
                    "---", MARKER, "", f"# {header['pretty_name']}", ""]
    L.append(f"{n} machine-generated instruction/response pairs "
             f"({', '.join(f'{s}: {c}' for s, c in report.counts.items())}) written by "
             f"tane {manifest.get('tane_version', '')} "
             f"in the `{report.format}` format. Run status: "
             f"{manifest.get('status', 'unknown')}. "
             + (f"A person reviewed {len(reviews)} records of the run (see Human review)."
                if reviews else "No human has reviewed them."))
    if report.skipped_no_output:
        L.append(f"\n{report.skipped_no_output} record(s) of the run had no output and are "
                 "not in this export.")
    L += ["", "## Fields", "", f"One JSON object per row (`{report.format}` format):", "",
          *schema_lines(report.format)]
    samples = sample_rows(run, report)
    if samples:
        import json

        L += ["", "## Sample rows", "",
              (f"The first {len(samples)} rows of the export (texts over {SAMPLE_CHARS} "
              "characters shortened here):"), "", "```json",
              *(json.dumps(_shorten(r), ensure_ascii=False) for r in samples), "```"]
    L += ["", "## Recipe", "", "From the run's `manifest.json`:", "", "```yaml",
          hide_url_keys(yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False).strip()),
          "```", ""]
    L += ["## Methods", ""]
    for i, s in enumerate(recipe.get("stages") or []):
        m = s.get("method", "?")
        extra = f" (mode `{s['mode']}`, prompt style `{s.get('prompt_style', '')}`)" \
            if s.get("mode") else ""
        L.append(f"{i + 1}. `{m}`{extra}: {METHOD_TEXT.get(m, 'see the recipe.')}")
    L += ["", "## Models", "", "| model | role (records) | backend | licence |",
          "|---|---|---|---|"]
    for model, info in models.items():
        roles = ", ".join(f"{r} ({c})" for r, c in info["roles"].items())
        lic = matches[model].licence
        lic_text = f"[{lic.name}]({lic.url})" if lic.url else lic.name
        if not lic.certain and lic.id != "unknown":
            lic_text += " (uncertain)"
        L.append(f"| {model} | {roles} | {info['backend'] or '-'} | {lic_text} |")
    L += ["", "### Licence obligations", ""]
    for lic in {m.licence.id: m.licence for m in matches.values()}.values():
        users = [mod for mod, mt in matches.items() if mt.licence.id == lic.id]
        L.append(f"**{lic.name}** ({', '.join(users)}):")
        L += [f"- {o}" for o in lic.obligations]
        if lic.note:
            L.append(f"- Note: {lic.note}.")
        L.append("")
    L.append("This is tane's summary, not legal advice: read each licence.")
    L += ["", *authors, "## Sampling parameters", "", "| stage | parameters |", "|---|---|"]
    for i, s in enumerate(recipe.get("stages") or []):
        for key in ("sampling", "instance_sampling"):
            if s.get(key):
                params = ", ".join(f"{k}={v}" for k, v in s[key].items())
                L.append(f"| {i + 1}. {s.get('method')} ({key}) | {params} |")
    L.append(f"\nRecipe seed: {recipe.get('seed')}; every call's own seed is in the record's "
             "`provenance`.")
    L += ["", "## Seeds", ""]
    count = (manifest.get("seeds") or {}).get("count")
    if bundled:
        L.append(f"`{seeds_path}` ({count} tasks): written for tane by its authors, licence "
                 "Apache-2.0 like the project.")
    else:
        L.append(f"`{seeds_path or 'not recorded'}` ({count} tasks): user-supplied; licence "
                 "not recorded.")
    sampled, sampled_warnings = sampled_lines(run.records)
    if sampled:
        L += ["", *sampled[:-1]]
    warnings += sampled_warnings
    L += ["", "## Filtering", "", "| stage | in | kept | dropped: reason (count) |",
          "|---|---|---|---|"]
    for name, st in (stats.get("stages") or {}).items():
        drops = ", ".join(f"{r} ({c})" for r, c in (st.get("dropped") or {}).items()) or "-"
        L.append(f"| {name} | {st.get('items_in', '')} | {st.get('kept', '')} | {drops} |")
    if not stats:
        L.append("| (stats.json missing) | | | |")
    if report.skipped_no_output:
        L.append(f"| export | {n + report.skipped_no_output} | {n} | "
                 f"no_output ({report.skipped_no_output}) |")
    L += ["", "`over_target` drops are items generated after the target count was reached.",
          ""]
    L += judge_lines(judge_summary(run.records),
                     [s for s in recipe.get("stages") or [] if s.get("method") == "judge"])
    L += prompt_stage_lines(run.records, recipe.get("stages") or [],
                            list((stats.get("stages") or {}).keys()))
    L += ["## Human review", "", *review_lines(reviews), *web_review_lines(run.path), "",
          "## Known limitations", "",
          "- Machine-generated text: instructions and answers can be wrong, repetitive or "
          "ungrammatical; " + ("only the reviewed rows were read by a person."
                               if reviews else "nothing was checked by a person.")]
    if any(i["backend"] == "embedded" for i in models.values()):
        L.append("- Written by tane's small embedded models (Gemma 3 270M / SmolLM2-135M), "
                 "meant for trying the pipeline, not for training data.")
    L.append("- Filters are rule-based (length, script share, keyword blacklist, ROUGE-L "
             "novelty); they do not judge correctness or safety."
             + (" The LLM judge's grades are a model's opinion, not a check."
                if "judge" in methods else ""))
    if warnings:
        L += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    notice = None
    needing = [lic for lic in {m.licence.id: m.licence for m in matches.values()}.values()
               if lic.notice_required]
    if needing:
        notice = ("This dataset contains outputs of models distributed under the terms "
                  "below; see README.md for the models and the obligations.\n\n"
                  + "\n\n".join(f"{lic.name} ({lic.url})\n{lic.notice}" for lic in needing)
                  + "\n")
        L += ["", "## Notice", "", "A NOTICE file accompanies this dataset: "
              + "; ".join(lic.notice for lic in needing)]
    return "\n".join(L) + "\n", notice, warnings


def write_card(run: RunData, report: ExportReport, directory: Path,
               commercial: bool = True) -> Path:
    check_card_target(directory)
    text, notice, warnings = build_card(run, report, commercial)
    report.card = write_text(directory / "README.md", text)
    if notice:
        report.notice = write_text(directory / "NOTICE", notice)
    report.warnings += warnings
    return report.card
