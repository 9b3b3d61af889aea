"""Named models on real servers: a recipe that starts from a user's file (source:), answers
it on one llama.cpp server and judges it on another, each stage's model and licence
recorded in provenance, stats.json, the manifest and the dataset card."""

from __future__ import annotations

import json

import pytest

from faultproxy import FaultProxy
from helpers import read_jsonl, read_stats, run_tane

pytestmark = pytest.mark.slow

RECIPE = """\
name: two-models
source: {{path: questions.jsonl, fields: {{instruction: prompt}}}}
models:
  gen: {{backend: openai, base_url: {gen}, model: gemma-gen, license: gemma, concurrency: 2}}
  judge: {{backend: openai, base_url: {judge}, model: gemma-judge, concurrency: 2}}
stages:
  - method: answer
    model: gen
    sampling: {{max_tokens: 40}}
  - method: judge
    model: judge
    sampling: {{max_tokens: 64}}
"""

QUESTIONS = ["日本の首都はどこですか。", "富士山の高さを教えてください。",
             "おすすめの朝ごはんを一つ挙げてください。"]


@pytest.fixture(scope="module")
def second_server():
    pytest.importorskip("xllamacpp")
    from tane.llm.embedded import gemma_path, start_server

    server = start_server(gemma_path(), slots=2, ctx_per_slot=1024, host="127.0.0.1", port=0)
    yield server.listening_address + "/v1"
    del server


def test_answer_on_one_server_judge_on_another(llama_server, second_server, tmp_path):
    (tmp_path / "questions.jsonl").write_text(
        "".join(json.dumps({"prompt": q, "id": f"q{i}"}, ensure_ascii=False) + "\n"
                for i, q in enumerate(QUESTIONS)) + '{"question": "no prompt column"}\n',
        encoding="utf-8")
    with FaultProxy(llama_server.removesuffix("/v1")) as a, \
            FaultProxy(second_server.removesuffix("/v1")) as b:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(RECIPE.format(gen=a.url + "/v1", judge=b.url + "/v1"),
                          encoding="utf-8")
        out = tmp_path / "run"
        res = run_tane("run", str(recipe), "--out", str(out), "--no-progress",
                       "--license", "judge=apache-2.0")
        assert res.returncode == 0, res.stderr
        st = read_stats(out)
        # each server got its own stage's calls, and one check before the first stage
        assert a.counts["ok"] == st["stages"]["answer"]["llm_calls"] + 1 > 1
        assert b.counts["ok"] == st["stages"]["judge"]["llm_calls"] + 1 > 1
    assert st["source"]["records"] == 3 and st["source"]["dropped"] == 1
    assert st["models"]["gen"]["model"] == "gemma-gen" and st["models"]["gen"]["stages"] == ["answer"]
    assert st["models"]["judge"]["license"] == "apache-2.0"
    assert st["models"]["judge"]["base_url"] == [b.url + "/v1"]
    assert st["stages"]["answer"]["model"] == "gen" and st["stages"]["judge"]["model"] == "judge"
    rows = read_jsonl(out / "dataset.jsonl")
    assert rows and {r["id"] for r in rows} <= {"q0", "q1", "q2"}
    for r in rows:
        step = r["provenance"]["steps"][0]
        assert (step["stage"], step["model"], step["license"]) == ("answer", "gemma-gen", "gemma")
        judge = r["provenance"]["steps"][-1]  # the judge's verdict: the record's last step
        assert (judge["stage"], judge["model"], judge["license"]) == (
            "judge", "gemma-judge", "apache-2.0")
        assert r["provenance"]["method"] == "source"
    drops = read_jsonl(out / "rejected.jsonl")
    assert any(d["reason"] == "missing_field" and d["stage"] == "source" for d in drops)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete" and set(manifest["models"]) == {"gen", "judge"}

    exp = tmp_path / "export"
    res = run_tane("export", str(out), "--format", "messages", "--to", str(exp / "data.jsonl"))
    assert res.returncode == 0, res.stderr
    card = (exp / "README.md").read_text(encoding="utf-8")
    assert "gemma-gen" in card and "gemma-judge" in card
