"""curate_ja.yaml's script and repetition checks keep natural Japanese (seed documents,
encyclopedia-style prose, technical prose with English terms) and still drop loops and
English; docs/curation.md's table is what bench/curate_ja_defaults.py measures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from helpers import run_tane

from tane.curate.steps import Fields, make_step

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import curate_ja_defaults as bench  # noqa: E402


def _curate(tmp_path: Path, rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """`tane curate` with script_ratio and repetition as recipes/curate_ja.yaml sets them."""
    shipped = yaml.safe_load((ROOT / "recipes/curate_ja.yaml").read_text(encoding="utf-8"))
    steps = [s for s in shipped["steps"] if s["name"] in ("script_ratio", "repetition")]
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(yaml.safe_dump({"lang": "ja", "steps": steps}, allow_unicode=True),
                   encoding="utf-8")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r | {"id": str(i)}, ensure_ascii=False) + "\n"
                           for i, r in enumerate(rows)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = run_tane("curate", str(src), "--recipe", str(cfg), "-o", str(out))
    assert res.returncode == 0, res.stderr
    read = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    rej = tmp_path / "out.rejected.jsonl"
    return read, [json.loads(x) for x in rej.read_text(encoding="utf-8").splitlines()]


def test_natural_japanese_is_kept_and_loops_and_english_are_dropped(tmp_path):
    nat = bench.natural()
    rows = [r for src in ("docs", "elyza", "mt_bench", "prose", "technical") for r in nat[src]]
    assert len(rows) >= 80
    kept, dropped = _curate(tmp_path, rows)
    assert [d["_drop"] for d in dropped] == [] and len(kept) == len(rows)

    bad = bench.broken(nat)
    loops, english = bad["loop3"], bad["english"]
    kept, dropped = _curate(tmp_path, loops + english)
    reasons = [d["_drop"]["reason"] for d in dropped]
    assert sum(r.startswith("repetition") for r in reasons[:len(loops)]) >= len(loops) - 1
    assert len(kept) <= 4, kept


def check(name: str, out: str, inst: str = "この話題について説明してください。"):
    f = Fields(instruction=inst, input="", output=out, provenance={}, id="r")
    return make_step(name, "ja", ()).check(f)


def test_english_terms_and_a_phrase_said_twice_are_natural():
    rc = ("Reading Comprehension Skillでは、与えられた文章を読み、その内容に関する質問に"
          "答える能力を評価します。")
    assert check("script_ratio", rc) is None
    # a 14-character name said twice in 63 characters
    twice = ("独立行政法人情報処理推進機構の調査では、受験者は前の年より一割増えた。"
             "独立行政法人情報処理推進機構は、来年度に新しい試験を始める。")
    assert check("repetition", twice) is None
    # the loops and the English stay dropped
    assert check("repetition", "これはテストです。" * 20)[0] == "repetition:ngram"
    assert check("script_ratio", "This answer is written in English only.")[0] == \
        "script_ratio:low_japanese"
    # a task that asks for English may answer in English
    assert check("script_ratio", "They say patience pays off in the end.",
                 inst="次の文を英訳してください。") is None


def test_docs_table_is_what_the_bench_measures():
    nat = bench.natural()
    table = bench.markdown(bench.measure(nat | bench.broken(nat), bench.defaults()))
    assert table in (ROOT / "docs/curation.md").read_text(encoding="utf-8")
