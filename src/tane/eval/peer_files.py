"""Grades in the shapes two other Japanese evaluation tools write, beside tane's report.

So that a tane score can be set next to one those tools published (same benchmark, same
judge model, same judge prompt), ``tane eval report`` also writes, per judge, scale and
model:

* ``flexeval/<judge>/<model>/metrics.json`` -- the summary flexeval's ``LLMScore``
  metric records: ``llm_score`` (the plain mean of every parsed grade, each graded turn
  one instance), ``num_failed_score_parses`` (grades that could not be parsed, left out
  of the mean) and ``llm_score/<category>`` per item category; and ``outputs.jsonl``
  beside it, one instance a line (``lm_output``, ``references``, ``extra_info``,
  ``llm_score``, ``llm_score_output``);
* ``shaberi/judge_<judge model>/<benchmark>/<model>.json`` -- Shaberi's judgement file:
  JSON Lines with ``Question``, ``output`` (the reference answer), ``eval_aspect``,
  ``ModelAnswer``, ``score`` (null where the grade could not be parsed) and ``Category``
  (null without one); names with ``/`` have it replaced by ``__`` as Shaberi does, and
  a 100-item ELYZA-format benchmark is ``elyza__ELYZA-tasks-100``, Shaberi's name.

The plain mean is not tane's item mean (an item counts there only when all its turns
were graded) and carries no interval; the report prints both. The grades used tane's
own judge prompt (``prompts/eval_grade/<lang>_<scale>.j2``), named in ``report.json``
(``peer_files.judge_prompt``): a number is comparable with another tool's only under the
same judge and the same prompt.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..store.files import atomic_write

NO_CATEGORY = "(none)"


def _safe(name: str) -> str:
    """A path component: ``/`` becomes ``__`` (as Shaberi names models and datasets),
    other characters unsafe in a file name ``_``."""
    return re.sub(r"[^\w.\-+=@]", "_", str(name).replace("/", "__")) or "_"


def flexeval_summary(grades: list[dict[str, Any]], category: dict[str, str]
                     ) -> dict[str, Any]:
    """flexeval's LLMScore summary of one model's grades (one judge and scale)."""
    valid = [r for r in grades if r.get("score") is not None and r.get("status") == "ok"]
    out: dict[str, Any] = {
        "llm_score": (sum(float(r["score"]) for r in valid) / len(valid)) if valid else None,
        "num_failed_score_parses": len(grades) - len(valid)}
    cats: dict[str, list[float]] = defaultdict(list)
    for r in valid:
        c = category.get(str(r["item_id"]))
        if c and c != NO_CATEGORY:
            cats[c].append(float(r["score"]))
    for c, v in sorted(cats.items()):
        out[f"llm_score/{c}"] = sum(v) / len(v)
    return out


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)

    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    atomic_write(path, w)


def write_peer_files(out: Path, meta: dict[str, Any], grades: list[dict[str, Any]],
                     items: dict[str, dict[str, Any]],
                     answers: dict[tuple[str, str], list[str] | None],
                     category: dict[str, str]) -> dict[str, Any]:
    """Write the flexeval- and Shaberi-shaped files under ``out``; returns what
    ``report.json`` records of them (``peer_files``)."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in grades:
        groups[(r["judge"], int(r["scale"]), r["model"])].append(r)
    judges = meta.get("judges") or {}
    lang = meta.get("lang") or "ja"
    bench = ("elyza__ELYZA-tasks-100" if meta.get("format") == "elyza" and meta.get("items") == 100
             else _safe(meta.get("bench") or "bench"))
    many_scales = len({(j, s) for j, s, _ in groups}) > len({j for j, _, _ in groups})
    summaries, files = [], []
    for (judge, scale, model), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: (str(r["item_id"]), int(r["turn"])))
        jdir = _safe(judge) + (f"_{scale}" if many_scales else "")
        summary = flexeval_summary(rs, category)
        fdir = out / "flexeval" / jdir / _safe(model)
        _write(fdir / "metrics.json", json.dumps(summary, ensure_ascii=False, indent=4) + "\n")
        outputs, shaberi = [], []
        for r in rs:
            item = items.get(str(r["item_id"])) or {}
            t = int(r["turn"]) - 1
            turns = answers.get((str(r["item_id"]), model)) or []
            answer = turns[t] if t < len(turns) else ""
            questions = item.get("turns") or []
            refs = item.get("reference") or []
            if isinstance(refs, str):
                refs = [refs]
            ref = refs[t] if t < len(refs) and refs[t] else ""
            score = r.get("score") if r.get("status") == "ok" else None
            outputs.append({"lm_output": answer, "references": [ref] if ref else [],
                            "extra_info": {"id": str(r["item_id"]), "turn": t + 1,
                                           "category": category.get(str(r["item_id"])),
                                           "question": questions[t] if t < len(questions)
                                           else ""},
                            "llm_score": score, "llm_score_output": r.get("raw") or ""})
            cat = category.get(str(r["item_id"]))
            shaberi.append({"Question": questions[t] if t < len(questions) else "",
                            "output": ref, "eval_aspect": item.get("eval_aspect") or "",
                            "ModelAnswer": answer, "score": score,
                            "Category": None if cat in (None, NO_CATEGORY) else cat})
        _write(fdir / "outputs.jsonl",
               "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs))
        jmodel = (judges.get(judge) or {}).get("model") or judge
        sfile = (out / "shaberi" / f"judge_{_safe(jmodel)}{f'_{scale}' if many_scales else ''}"
                 / bench / f"{_safe(model)}.json")
        _write(sfile, "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in shaberi))
        summaries.append({"judge": judge, "scale": scale, "model": model, **summary})
        files += [str((fdir / "metrics.json").relative_to(out)),
                  str((fdir / "outputs.jsonl").relative_to(out)), str(sfile.relative_to(out))]
    prompts = [{"judge": j, "scale": s, "prompt": f"prompts/eval_grade/{lang}_{s}.j2"}
               for j, s in sorted({(j, s) for j, s, _ in groups})]
    return {"judge_prompt": prompts, "summaries": summaries, "files": files}
