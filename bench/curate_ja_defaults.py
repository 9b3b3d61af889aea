"""False positives of ``recipes/curate_ja.yaml``'s checks on natural Japanese, and what
they still catch.

    python bench/curate_ja_defaults.py [--old]

Natural Japanese (nothing here should be dropped):

- seeds: the bundled ja seed tasks, one record per instance (instruction, input, output);
- docs: the paragraphs of the AgentInstruct seed documents (recipes/agent_docs/) as
  outputs;
- elyza, mt_bench: the bundled benchmark samples (prompt and reference answer; the
  MT-Bench questions have no answer);
- prose, technical: bench/data/ja_natural.jsonl, encyclopedia-style prose and technical
  prose with English terms ("Reading Comprehension Skillでは…", "PyTorchのDataLoader…"),
  written for this measurement, as outputs.

What must still be dropped:

- loop2, loop3, loop6: a natural paragraph's first half, then its next sentence said 2,
  3 or 6 times (a model repeating itself);
- english: the bundled en seed instructions and outputs and the alpaca_eval_en sample
  answers (texts of 10+ letters) as outputs of a Japanese task.

Every check of curate_ja.yaml that judges one record runs with its defaults (the dedup
steps are left out: a duplicate is no false positive). Prints a Markdown table: records
each step drops per source.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

from tane.curate.steps import Fields, make_step  # noqa: E402

ASK = "この話題について説明してください。"
STEPS = ["length", "meta_text", "refusal", "script_ratio", "mixed_language", "repetition",
         "truncated", "restates_question", "copies", "language"]


def _rec(instruction: str, output: str | None, inp: str = "") -> dict:
    r = {"instruction": instruction, "input": inp}
    return r if output is None else r | {"output": output}


def _paragraphs(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        text = re.sub(r"(?s)<(style|script)\b.*?</\1>", "", text)
        text = re.sub(r"<[^>]+>", "\n", text)
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def natural() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"seeds": [], "docs": [], "elyza": [], "mt_bench": []}
    for line in (ROOT / "src/tane/seeds/data/ja.jsonl").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            d = json.loads(line)
            out["seeds"] += [_rec(d["instruction"], i.get("output", ""), i.get("input", ""))
                             for i in d["instances"]]
    for p in sorted((ROOT / "recipes/agent_docs").iterdir()):
        out["docs"] += [_rec(ASK, t) for t in _paragraphs(p)]
    with open(ROOT / "src/tane/eval/data/elyza_ja.csv", encoding="utf-8", newline="") as f:
        out["elyza"] = [_rec(row["input"], row["output"]) for row in csv.DictReader(f)]
    for line in (ROOT / "src/tane/eval/data/mt_bench_ja.jsonl").read_text(
            encoding="utf-8").split("\n"):
        if line.strip():
            out["mt_bench"] += [_rec(t, None) for t in json.loads(line)["turns"]]
    for line in (ROOT / "bench/data/ja_natural.jsonl").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            d = json.loads(line)
            out.setdefault(d["source"], []).append(_rec(ASK, d["text"]))
    return out


def broken(nat: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for times in (2, 3, 6):
        rows = []
        for r in nat["prose"] + nat["technical"] + nat["docs"]:
            s = [x for x in re.split(r"(?<=。)", r["output"]) if x.strip()]
            if len(s) >= 2:
                half = len(s) // 2
                rows.append(_rec(ASK, "".join(s[:half]) + s[half] * times))
        out[f"loop{times}"] = rows
    texts = []
    for line in (ROOT / "src/tane/seeds/data/en.jsonl").read_text(encoding="utf-8").split("\n"):
        if line.strip():
            d = json.loads(line)
            texts += [d["instruction"]] + [i["output"] for i in d["instances"]]
    texts += [d["output"] for d in json.loads(
        (ROOT / "src/tane/eval/data/alpaca_eval_en.json").read_text(encoding="utf-8"))]
    out["english"] = [_rec(ASK, t) for t in texts
                      if sum(c.isalpha() for c in t) >= 10]
    return out


def defaults() -> dict[str, dict]:
    """The steps of recipes/curate_ja.yaml with the parameters written there."""
    doc = yaml.safe_load((ROOT / "recipes/curate_ja.yaml").read_text(encoding="utf-8"))
    return {s["name"]: {k: v for k, v in s.items() if k != "name"}
            for s in doc["steps"] if s["name"] in STEPS}


def measure(sets: dict[str, list[dict]], params: dict[str, dict]) -> dict[str, dict]:
    """source -> {"rows": n, step: number dropped by that step alone}."""
    steps = {n: make_step(n, "ja", (), **params.get(n, {})) for n in STEPS}
    table = {}
    for src, rows in sets.items():
        line = {"rows": len(rows)}
        for name, step in steps.items():
            line[name] = sum(
                step.check(Fields(instruction=r["instruction"], input=r["input"],
                                  output=r.get("output"), provenance={}, id=str(i)))
                is not None for i, r in enumerate(rows))
        table[src] = line
    return table


def markdown(table: dict[str, dict]) -> str:
    head = "| source | rows | " + " | ".join(f"`{s}`" for s in STEPS) + " |"
    rows = [head, "|" + "---|" * (len(STEPS) + 2)]
    for src, line in table.items():
        rows.append(f"| {src} | {line['rows']} | "
                    + " | ".join(str(line[s]) for s in STEPS) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.parse_args()
    nat = natural()
    print(markdown(measure(nat | broken(nat), defaults())))


if __name__ == "__main__":
    main()
