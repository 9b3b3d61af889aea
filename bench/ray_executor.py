"""The Ray executor against the local one, on the same recipe and the same simulated server.

    python bench/ray_executor.py [--records 4000] [--streams 512] [--workers 2] [--shard-size 64]

A ``source:`` recipe (``--records`` Japanese instructions) runs an ``answer`` stage and a
``curate`` stage with ``exact_dup`` against ``bench/simserver.py`` (``--streams`` parallel
streams, a latency model of a vLLM-class server), first with ``--executor local``, then
with ``--executor ray`` on a local Ray cluster (``ray.init`` inside ``tane run``). Prints
the wall time of each, their ratio, and whether the
two datasets are byte-identical. What it shows on one machine is the executor's overhead
(starting Ray, shipping shards, logging results), not a speed-up: one machine's server is
the same server either way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simserver import SimServer  # noqa: E402

TOPICS = ["りんご", "電車", "俳句", "統計", "睡眠", "料理", "天気", "歴史", "音楽", "数学"]


def write_recipe(folder: Path, records: int) -> Path:
    rows = [{"instruction": f"{TOPICS[i % len(TOPICS)]}について{i}番目の質問です。"
                            f"要点を{i % 5 + 1}つ説明してください。"} for i in range(records)]
    (folder / "tasks.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    recipe = folder / "recipe.yaml"
    recipe.write_text("""name: bench-ray
source: {path: tasks.jsonl}
llm: {backend: openai, base_url: http://127.0.0.1:1/v1, model: sim, concurrency: 512}
stages:
  - {method: answer, prompt_style: chat, num_examples: 0, sampling: {max_tokens: 128}}
  - {method: curate, lang: ja, steps: [{name: exact_dup}]}
""", encoding="utf-8")
    return recipe


def run(recipe: Path, out: Path, url: str, extra: list[str]) -> float:
    tane = Path(sys.executable).with_name("tane")
    cmd = [str(tane), "run", str(recipe), "--out", str(out), "--llm", url, "--model", "sim",
           "--license", "apache-2.0", "--no-progress", *extra]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(extra) or 'local'} failed ({res.returncode}): "
                         f"{res.stderr.strip()[-400:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--streams", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            SimServer.start(streams=a.streams, ttft=0.15, tps=30.0, tokens_mean=60) as sim:
        folder = Path(tmp)
        recipe = write_recipe(folder, a.records)
        results = {}
        for name, extra in (("local", []),
                            ("ray", ["--executor", "ray", "--workers", str(a.workers),
                                     "--shard-size", str(a.shard_size)])):
            wall = run(recipe, folder / name, sim.url, extra)
            st = json.loads((folder / name / "stats.json").read_text(encoding="utf-8"))
            results[name] = {"wall_s": round(wall, 1), "calls": st["llm"]["calls"],
                             "kept": st["kept"]}
        same = ((folder / "local" / "dataset.jsonl").read_bytes()
                == (folder / "ray" / "dataset.jsonl").read_bytes())
    loc, ray = results["local"]["wall_s"], results["ray"]["wall_s"]
    print(f"records {a.records}, server streams {a.streams}, ray workers {a.workers}, "
          f"shard size {a.shard_size}")
    print(f"  local: {loc:7.1f} s  ({results['local']['calls']} calls, "
          f"{results['local']['kept']} kept)")
    print(f"  ray:   {ray:7.1f} s  ({results['ray']['calls']} calls, "
          f"{results['ray']['kept']} kept)")
    print(f"  ray / local: {ray / loc:.2f}x; datasets identical: {same}")


if __name__ == "__main__":
    main()
