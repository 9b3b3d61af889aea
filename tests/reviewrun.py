"""A small run directory for the web review tests, written by hand through the store's
own functions (no model): records with judge scores, one hostile output, one drop."""

from __future__ import annotations

import json
from pathlib import Path

from tane.store.revisions import write_outputs
from tane.store.rundir import RunDir

HOSTILE = '<script>alert(1)</script><b>bold</b> [link](javascript:alert(2))'


def record(i: int, output: str, score: int | None) -> dict:
    prov = {"method": "self_instruct", "model": "google/gemma-3-270m", "license": "gemma",
            "backend": "embedded", "seed_ids": [f"ja-{i:03d}"], "parent_id": None,
            "template": "self_instruct/ja_generate.j2@0", "sampling": {"seed": i},
            "steps": [{"stage": "judge", "method": "judge"}]}
    if score is not None:
        prov["judge"] = {"quality": score, "reason": f"理由{i}"}
    return {"id": f"r{i}", "instruction": f"質問{i}：日本の首都はどこですか",
            "input": "", "output": output, "provenance": prov}


OUTPUTS = ["東京です。", "大阪です。", "京都は古都です。", HOSTILE]
SCORES = [5, 2, 4, 3]


def make_run(d: Path, outputs: list[str] = OUTPUTS, scores: list[int] = SCORES) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    records = [record(i, o, s) for i, (o, s) in enumerate(zip(outputs, scores))]
    drops = [{"stage": "self_instruct", "record_id": None, "reason": "rouge_similar",
              "detail": {"rouge_l": 0.9}, "text": "東京はどこですか"}]
    (d / "stats.json").write_text(json.dumps({"target": len(records), "kept": len(records),
                                              "dataset_records": len(records)}),
                                  encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps(
        {"tane_version": "0.1.0", "status": "complete",
         "recipe": {"name": "web review", "seed": 1, "target": len(records)}}),
        encoding="utf-8")
    rd = RunDir(d)
    try:
        write_outputs(rd, records, drops)
    finally:
        rd.close()
    return d


def dataset(d: Path) -> dict[str, dict]:
    lines = (d / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


# Two reviewers' answers to the four records of make_run, chosen so that they disagree on
# r1's decision and on three of the four ratings (the figures are worked out by hand in
# the tests that use them).
DECISIONS = {"alice": ["keep", "keep", "drop", "keep"], "bob": ["keep", "drop", "drop", "keep"]}
RATINGS = {"alice": ["5", "2", "1", "3"], "bob": ["4", "2", "2", "3"]}


def review_by_two(run: Path):
    """The web review of ``run`` (made by make_run) with alice and bob, overlap 2, the
    default questions, every record submitted by both as DECISIONS and RATINGS say."""
    from tane.review.web.questions import load
    from tane.review.web.service import Review

    review = Review(run, ["alice", "bob"], 2, load(None))
    for who in ("alice", "bob"):
        for i in range(4):
            rid = f"r{i}"
            review.save(who, rid, "submit", review.by_id[rid].current,
                        {"decision": DECISIONS[who][i], "quality": RATINGS[who][i]}, "",
                        review.version(rid))
    return review
