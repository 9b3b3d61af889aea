"""What a Ray worker gets as data instead of reading the driver's files, and how a shard's
calls reach the run's journal. No model and no Ray here: each test takes milliseconds."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from tane.errors import TaneError
from tane.pipeline.ray_files import seeds_data, seeds_from, stage_files, write_files
from tane.pipeline.ray_journal import JournalDesk, ShardCache, commit_calls, forget
from tane.prompts import load_template
from tane.recipe import load_recipe
from tane.seeds.loader import load_seeds
from tane.store.rundir import RunDir

RECIPE = """name: files
source: {{path: tasks.jsonl}}
stages:
  - method: answer
    prompt_style: chat
    templates: {{ja_chat: {template}}}
    context: {{persona: {{file: people/personas.jsonl, sample: per_item}}}}
  - {{method: curate, lang: ja, steps: [{{name: exact_dup}}]}}
  - {{method: curate, lang: ja, steps: [{{name: length, output_min: 1}}]}}
"""


def _recipe(folder: Path, template: str = "tpl/answer.j2") -> Path:
    (folder / "tpl").mkdir(parents=True, exist_ok=True)
    (folder / "tpl" / "answer.j2").write_text("{{ instruction }}\n答えて。", encoding="utf-8")
    (folder / "people").mkdir(exist_ok=True)
    (folder / "people" / "personas.jsonl").write_text('{"persona": "先生"}\n',
                                                      encoding="utf-8")
    (folder / "tasks.jsonl").write_text('{"instruction": "一たす一は。"}\n', encoding="utf-8")
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(template=template), encoding="utf-8")
    return path


def test_a_template_override_is_named_as_the_recipe_names_it(tmp_path):
    # the same recipe in two folders (or on a worker) gives the same provenance
    ids = set()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "t.j2").write_text("{{ instruction }}", encoding="utf-8")
        ids.add(load_template("answer", "ja_chat", {"ja_chat": "t.j2"}, tmp_path / name).id)
    assert len(ids) == 1 and ids.pop().startswith("t.j2@")


def test_the_files_the_workers_stages_name_travel_as_bytes(tmp_path):
    recipe = load_recipe(_recipe(tmp_path))
    # the answer stage (index 0) goes to the workers: its template and its persona file
    files = stage_files(recipe, [0, 2], tmp_path)
    assert files == {"tpl/answer.j2": (tmp_path / "tpl" / "answer.j2").read_bytes(),
                     "people/personas.jsonl": (tmp_path / "people" / "personas.jsonl"
                                               ).read_bytes()}
    # written under a worker's own folder at the same relative paths
    (tmp_path / "node").mkdir()
    # a worker of this run killed on this node left its folder (no process has that pid)
    dead = tmp_path / "node" / f"files-{2**31 - 1}-x"
    (dead / "tpl").mkdir(parents=True)
    base = write_files(files, tmp_path / "node")
    assert (base / "tpl" / "answer.j2").read_bytes() == files["tpl/answer.j2"]
    assert list((tmp_path / "node").iterdir()) == [base]


def test_a_file_outside_the_recipes_folder_is_refused_in_one_line(tmp_path):
    outside = tmp_path / "elsewhere.j2"
    outside.write_text("{{ instruction }}", encoding="utf-8")
    folder = tmp_path / "r"
    folder.mkdir()
    for given in (str(outside), "../elsewhere.j2"):
        recipe = load_recipe(_recipe(folder, given))
        with pytest.raises(TaneError) as e:
            stage_files(recipe, [0], folder)
        line = e.value.one_line()
        assert "\n" not in line and "elsewhere.j2" in line
        assert "stages.0.templates.ja_chat" in line and "recipe's folder" in line


def test_tane_run_refuses_such_a_file_before_the_run_directory_is_made(tmp_path):
    from typer.testing import CliRunner

    from tane.cli import app

    folder = tmp_path / "r"
    folder.mkdir()
    (tmp_path / "elsewhere.j2").write_text("{{ instruction }}", encoding="utf-8")
    recipe = _recipe(folder, "../elsewhere.j2")
    out = tmp_path / "run"
    # no server and no Ray are reached: the recipe is refused first
    res = CliRunner().invoke(app, ["run", str(recipe), "--out", str(out), "--llm",
                                   "http://127.0.0.1:9/v1,model=m", "--license", "x",
                                   "--no-progress", "--executor", "ray"])
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "elsewhere.j2" in errors[0]
    assert "stages.0.templates.ja_chat" in errors[0]
    assert not out.exists()


def test_the_seeds_travel_as_rows(tmp_path):
    seeds = load_seeds("bundled:ja")
    rows = json.loads(json.dumps(seeds_data(seeds)))  # plain data
    assert seeds_from(rows) == seeds


def _puts(run: Path) -> dict[str, int]:
    db = sqlite3.connect(run / "run.sqlite")
    try:
        return dict(db.execute("SELECT key, puts FROM calls").fetchall())
    finally:
        db.close()


def test_a_shards_calls_are_cached_on_its_node_and_committed_once_by_the_driver(tmp_path):
    node, run = tmp_path / "node", tmp_path / "run"
    node.mkdir()

    async def first_try() -> None:
        cache = ShardCache(node, "s1")
        assert await cache.get_call_async("k1") is None
        await cache.put_call_async("k1", "chat", {"q": 1}, {"text": "a"})
        cache.close()  # the worker dies here: nothing reached the driver

    async def retry() -> list:
        cache = ShardCache(node, "s1")  # the same shard again on the same node
        assert await cache.get_call_async("k1") == {"text": "a"}  # replayed, not called
        await cache.put_call_async("k2", "chat", {"q": 2}, {"text": "b"})
        cache.close()
        return list(cache.calls.values())

    asyncio.run(first_try())
    calls = asyncio.run(retry())
    assert [(c[0], c[4]) for c in calls] == [("k1", False), ("k2", True)]

    async def commit(rd: RunDir) -> None:
        await commit_calls(rd, calls)
        await commit_calls(rd, calls)  # the driver died before marking the shard done

    with RunDir(run) as rd:
        asyncio.run(commit(rd))
    # the replayed call is committed once; the call made twice counts twice
    assert _puts(run) == {"k1": 1, "k2": 2}
    forget(node, "s1")
    assert list(node.iterdir()) == []


def test_the_desk_asks_the_driver_once_a_key_and_gives_every_asker_its_reply():
    async def go() -> tuple:
        desk = JournalDesk()  # as the actor runs it, without Ray
        asks = [asyncio.ensure_future(desk.ask(k)) for k in ("k", "k", "z")]
        assert await desk.wanted(5.0) == ["k", "z"]  # what the driver looks up
        assert await desk.wanted(0.01) == []
        await desk.reply({"k": {"text": "a"}, "z": None})
        return tuple([await a for a in asks])

    assert asyncio.run(go()) == ({"text": "a"}, {"text": "a"}, None)
