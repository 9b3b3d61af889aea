"""Why was this dropped? A judge's drop keeps the input and output it judged, and
``tane show`` prints them, and the model's own text (``detail.raw``: a cut-off answer, a
verdict that did not parse).

The run is real (``tane run`` in a subprocess, over HTTP) against bench/simserver.py: a
served model without a model (fixed latency, filler text), which cuts an answer at
``max_tokens`` as a real server does and never writes a verdict that parses."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from fakes import ScriptedBackend

from helpers import read_jsonl, run_tane
from tane.llm.base import CHAT, COMPLETION, JSON_SCHEMA, ModelInfo
from tane.methods.base import StageContext, StageStats
from tane.methods.judge import Judge
from tane.recipe import JudgeStage
from tane.schema import Provenance, Record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from simserver import SimServer  # noqa: E402

JUDGED = "首都は大阪だと思います。"


def flat(text: str) -> str:
    """The printed table without its frame and line breaks (cells wrap)."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│┃")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("why")
    (tmp / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [
        {"instruction": "日本の首都はどこですか。", "input": "地理の問題", "output": JUDGED},
        {"instruction": "富士山の高さは？"}]), encoding="utf-8")
    with SimServer.start(streams=4, ttft=0.0, tps=5000.0, tokens_mean=40) as sim:
        (tmp / "r.yaml").write_text(f"""\
name: why
llm: {{backend: openai, base_url: {sim.url}, model: sim}}
source: {{path: in.jsonl}}
stages:
  - {{method: answer, mode: ja, prompt_style: chat, sampling: {{max_tokens: 6}}}}
  - {{method: judge, mode: ja, min_quality: 3}}
""", encoding="utf-8")
        res = run_tane("run", str(tmp / "r.yaml"), "--out", str(tmp / "run"), "--no-progress")
    assert res.returncode == 0, res.stderr
    return tmp / "run"


def test_a_judge_drop_row_keeps_the_judged_record_and_show_prints_it(run_dir):
    rows = [r for r in read_jsonl(run_dir / "rejected.jsonl") if r["stage"] == "judge"]
    assert [r["reason"] for r in rows] == ["judge_unparseable"]
    assert rows[0]["detail"]["record"] == {"input": "地理の問題", "output": JUDGED}
    res = run_tane("show", str(run_dir), "--no-kept", "--stage", "judge")
    assert res.returncode == 0, res.stderr
    shown = flat(res.stdout)
    assert "input:地理の問題" in shown and f"output:{JUDGED}" in shown, res.stdout
    # the judge's text that did not parse
    assert "raw:" + flat(rows[0]["detail"]["raw"])[:20] in shown, res.stdout


def test_show_prints_the_cut_text_of_a_truncated_answer(run_dir):
    rows = [r for r in read_jsonl(run_dir / "rejected.jsonl")
            if r["reason"] == "truncated_answer"]
    assert len(rows) == 1 and rows[0]["detail"]["raw"].strip()
    res = run_tane("show", str(run_dir), "--no-kept", "--reason", "truncated_answer")
    assert res.returncode == 0, res.stderr
    assert "raw:" + flat(rows[0]["detail"]["raw"]) in flat(res.stdout), res.stdout


class _Journal:
    def __init__(self):
        self.calls: dict[str, dict] = {}

    def get_call(self, key):
        return self.calls.get(key)

    def put_call(self, key, kind, request, response):
        self.calls[key] = response


def test_a_low_score_drop_keeps_the_judged_output(tmp_path):
    # a mock judge (no model): a fixed low verdict, so that the drop is judge_low_quality
    from tane.llm.cache import CachedBackend

    verdict = json.dumps({"reason": "事実と違う", "quality": 1, "difficulty": "easy",
                          "category": "information seeking"}, ensure_ascii=False)
    llm = CachedBackend(ScriptedBackend(lambda kind, prompt, params: verdict,
                                        capabilities=(COMPLETION, CHAT, JSON_SCHEMA),
                                        info=ModelInfo(id="fake-judge", backend="fake")),
                        _Journal())
    ctx = StageContext("judge", llm, StageStats("judge"), [], 0)  # type: ignore[arg-type]
    judge = Judge(JudgeStage(method="judge", min_quality=3), ctx)
    rec = Record(id="r1", instruction="日本の首都はどこですか。", output=JUDGED,
                 provenance=Provenance(method="source"))
    batch = asyncio.run(judge.process([rec]))
    assert not batch.records and len(batch.drops) == 1
    d = batch.drops[0]
    assert d.reason == "judge_low_quality" and d.detail["score"] == 1
    assert d.detail["record"] == {"output": JUDGED}
    # what tane show prints of that row in rejected.jsonl
    run = tmp_path / "run"
    run.mkdir()
    (run / "rejected.jsonl").write_text(json.dumps(d.model_dump(), ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    res = run_tane("show", str(run), "--no-kept", "--reason", "judge_low_quality")
    assert res.returncode == 0, res.stderr
    shown = flat(res.stdout)
    assert "score=1" in shown and f"output:{JUDGED}" in shown, res.stdout
