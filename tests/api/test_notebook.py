"""``tane.run`` and ``await tane.run_async`` in a real Jupyter kernel (ipykernel, driven
by nbclient): the cell runs inside the kernel's event loop. Skipped unless ipykernel,
nbclient and nbformat are installed."""

from __future__ import annotations

import json

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SETUP = """\
import asyncio, json, threading
import tane
rows = [{"instruction": f"日本の都市{i}について教えてください。", "output": f"答え{i}。"}
        for i in range(200)] + [{"instruction": "短い", "output": "x"}]
with open("rows.jsonl", "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\\n")
recipe = {"name": "nb", "source": {"path": "rows.jsonl"},
          "stages": [{"method": "curate", "steps": [{"name": "length"}]}]}
print("loop running:", asyncio.get_event_loop().is_running())
"""
RUN = """\
threads = set()
result = tane.run(recipe, out="runs/sync",
                  progress=lambda p: threads.add(threading.current_thread().name))
print("sync", result.kept, result.complete, sorted(threads))
"""
AWAIT = """\
result2 = await tane.run_async(recipe, out="runs/async")
print("async", result2.kept, len(tane.load(result2)))
"""


def test_a_jupyter_cell_runs_a_recipe_both_ways(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, RUN, AWAIT)]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    assert "loop running: True" in text[0], text[0]
    assert "sync 200 True ['tane-run']" in text[1], text[1]
    assert "async 200 200" in text[2], text[2]
    for out in ("sync", "async"):
        manifest = json.loads((tmp_path / "runs" / out / "manifest.json").read_text())
        assert manifest["status"] == "complete"
