"""A key never reaches the console or a file that may be published.

A key written into a server URL (``user:KEY@host`` or ``?api_key=KEY``) is refused with one
line and exit 2 by every command that takes a URL, before anything is written; a key in
``$OPENAI_API_KEY`` is sent and never written by a run, an export or an eval; and the card
of a run directory that an older tane stored such a URL in leaves the key out.
The server is bench/simserver.py, a real HTTP server that answers without a model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from helpers import ROOT, run_tane

sys.path.insert(0, str(ROOT / "bench"))

from simserver import SimServer  # noqa: E402

KEY = "sk-url-SECRET-7f3a9c"


@pytest.fixture(scope="module")
def sim():
    with SimServer.start(streams=8, ttft=0.0, tps=5000.0, tokens_mean=30) as server:
        yield server


def recipe(path: Path, llm: str) -> Path:
    path.write_text(f"""\
target: 2
llm: {llm}
seeds: {{path: bundled:en}}
stages:
  - {{method: self_instruct, mode: en, max_rounds: 2, request_batch_size: 2}}
""", encoding="utf-8")
    return path


def files_with_key(root: Path, inputs: set[Path]) -> list[str]:
    return sorted(str(p) for p in root.rglob("*")
                  if p.is_file() and p not in inputs and KEY.encode() in p.read_bytes())


def refused(res) -> str:
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out and KEY not in out, out
    lines = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, res.stderr
    assert "carries a key" in lines[0] and "OPENAI_API_KEY" in lines[0]
    return lines[0]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_key_in_a_url_is_refused_by_every_command_and_written_nowhere(sim, tmp_path):
    userinfo = sim.url.replace("http://", f"http://user:{KEY}@")
    query = f"{sim.url}?api_key={KEY}"
    ok = recipe(tmp_path / "ok.yaml", f"{{backend: openai, base_url: {sim.url}, model: sim}}")
    in_recipe = recipe(tmp_path / "key.yaml",
                       f"{{backend: openai, base_url: '{userinfo}', model: sim}}")
    plan = tmp_path / "eval.yaml"
    plan.write_text(f"bench: bundled:elyza_ja\nout: ev-plan\nmodels:\n"
                    f"  a: {{base_url: '{userinfo}', model: sim}}\n", encoding="utf-8")
    inputs = {ok, in_recipe, plan}
    line = refused(run_tane("run", str(in_recipe), "--out", str(tmp_path / "r1"),
                            "--no-progress"))
    assert f"{in_recipe}:2: field 'llm.base_url'" in line and "user:password@" in line
    # with a key in the environment as well (aiohttp refused the pair with a traceback)
    refused(run_tane("run", str(in_recipe), "--out", str(tmp_path / "r2"), "--no-progress",
                     env={"OPENAI_API_KEY": "sk-env-other"}))
    assert "'api_key' query parameter" in refused(run_tane(
        "run", str(ok), "--out", str(tmp_path / "r3"), "--no-progress", "--llm", query))
    refused(run_tane("plan", str(in_recipe)))
    refused(run_tane("eval", "answer", "bundled:elyza_ja", "--model",
                     f"m={userinfo},model=sim", "-o", str(tmp_path / "ev1")))
    refused(run_tane("eval", "answer", "bundled:elyza_ja", "--model", f"{query},model=sim",
                     "-o", str(tmp_path / "ev2")))
    refused(run_tane("eval", "grade", str(tmp_path / "ev3"), "--judge", query,
                     "--judge-model", "j"))
    assert str(plan) in refused(run_tane("eval", "run", str(plan)))
    assert not any((tmp_path / d).exists() for d in ("r1", "r2", "r3", "ev1", "ev2"))
    assert files_with_key(tmp_path, inputs) == []


def test_a_key_in_the_environment_is_sent_and_written_nowhere(sim, tmp_path):
    env = {"OPENAI_API_KEY": KEY}
    ok = recipe(tmp_path / "ok.yaml", f"{{backend: openai, base_url: {sim.url}, model: sim}}")
    run = tmp_path / "run"
    res = run_tane("run", str(ok), "--out", str(run), "--no-progress", env=env)
    assert res.returncode == 0, res.stderr
    res2 = run_tane("export", str(run), "-f", "messages", "--to",
                    str(tmp_path / "x" / "d.jsonl"), "--for", "trl", "--base-model", "m",
                    env=env)
    assert res2.returncode == 0, res2.stderr
    assert (tmp_path / "x" / "README.md").exists()
    res3 = run_tane("eval", "answer", "bundled:elyza_ja", "--model",
                    f"m={sim.url},model=sim,max_retries=0", "-o", str(tmp_path / "ev"),
                    env=env)
    assert res3.returncode in (0, 3), res3.stderr
    assert (tmp_path / "ev" / "answers.jsonl").exists()
    for r in (res, res2, res3):
        assert KEY not in r.stdout + r.stderr
    assert files_with_key(tmp_path, set()) == []


def test_the_card_of_an_older_run_directory_leaves_a_url_key_out(sim, tmp_path):
    ok = recipe(tmp_path / "ok.yaml", f"{{backend: openai, base_url: {sim.url}, model: sim}}")
    run = tmp_path / "run"
    assert run_tane("run", str(ok), "--out", str(run), "--no-progress").returncode == 0
    # what a tane that took such URLs stored in the manifest
    mf = run / "manifest.json"
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    manifest["recipe"]["llm"]["base_url"] = [sim.url.replace("http://", f"http://u:{KEY}@"),
                                             f"{sim.url}?token={KEY}&x=1"]
    mf.write_text(json.dumps(manifest), encoding="utf-8")
    res = run_tane("export", str(run), "-f", "alpaca", "--to", str(tmp_path / "x" / "d.jsonl"))
    assert res.returncode == 0, res.stderr
    card = (tmp_path / "x" / "README.md").read_text(encoding="utf-8")
    assert f"{sim.url}?token=***&x=1" in card and sim.url in card
    assert KEY not in res.stdout + res.stderr
    assert files_with_key(tmp_path / "x", set()) == []
