"""The dataset card: the exported rows' fields and a few sample rows, no link to a package
index page, and ``license:`` as the Hub's id of one licence or ``other`` with a name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tane.export.card import SAMPLE_CHARS, SCHEMA
from tane.export.formats import FORMATS, export


def _rec(i: int, model: str, output: str = "東京です。") -> dict:
    return {"id": f"r-{i}", "instruction": f"日本の首都はどこですか？（{i}）",
            "input": "地理" if i % 2 else "", "output": output,
            "provenance": {"method": "self_instruct", "model": model, "license": "",
                           "backend": "openai", "seed_ids": [], "sampling": {"seed": i},
                           "steps": []}}


def make_run(d: Path, model: str, seeds: str = "bundled:ja", n: int = 5,
             long: bool = False) -> Path:
    d.mkdir(parents=True)
    recs = [_rec(i, model, "長い答え" * 200 if long and i == 0 else "東京です。")
            for i in range(n)]
    (d / "dataset.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                             for r in recs), encoding="utf-8")
    (d / "stats.json").write_text(json.dumps({"kept": n, "stages": {}}), encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps(
        {"tane_version": "0.1.0", "status": "complete",
         "recipe": {"name": "card", "seed": 1, "seeds": {"path": seeds},
                    "stages": [{"method": "self_instruct", "mode": "ja"}]},
         "seeds": {"path": seeds, "count": 3}}, ensure_ascii=False), encoding="utf-8")
    return d


def _card(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    _, head, body = text.split("---\n", 2)
    return yaml.safe_load(head), body


def test_card_samples_a_parquet_export(tmp_path):
    pytest.importorskip("pyarrow")
    run = make_run(tmp_path / "run", "Qwen/Qwen2.5-7B-Instruct")
    out = tmp_path / "data.parquet"
    export(run, "alpaca", out)
    _, body = _card(tmp_path / "README.md")
    block = body.split("## Sample rows", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    shown = [json.loads(x) for x in block.splitlines()]
    assert [r["instruction"] for r in shown] == [f"日本の首都はどこですか？（{i}）" for i in range(3)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_card_has_the_fields_and_the_first_rows(tmp_path, fmt):
    run = make_run(tmp_path / "run", "Qwen/Qwen2.5-7B-Instruct", long=True)
    out = tmp_path / "out" / "data.jsonl"
    out.parent.mkdir()
    export(run, fmt, out)
    _, body = _card(out.parent / "README.md")
    fields = body.split("## Fields", 1)[1].split("\n## ", 1)[0]
    for name, _type, _what in SCHEMA[fmt]:
        assert f"| `{name}` |" in fields
    written = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()[:3]]
    for row in written:  # every field the file has is described
        assert set(row) == {f for f, _, _ in SCHEMA[fmt]}
    block = body.split("## Sample rows", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    shown = [json.loads(x) for x in block.splitlines()]
    assert len(shown) == 3
    # the same rows as the file, the long answer shortened
    flat = json.dumps(shown, ensure_ascii=False)
    assert "長い答え" * 10 in flat and "長い答え" * 200 not in flat
    assert "…" in flat
    assert json.dumps(shown[1:], ensure_ascii=False) == json.dumps(written[1:],
                                                                   ensure_ascii=False)
    assert SAMPLE_CHARS == 300
    assert "pypi.org" not in body


@pytest.mark.parametrize("model, seeds, header", [
    ("Qwen/Qwen2.5-7B-Instruct", "bundled:ja", {"license": "apache-2.0"}),
    ("llm-jp/llm-jp-3-13b-instruct", "bundled:ja", {"license": "apache-2.0"}),
    ("google/gemma-2-9b-it", "bundled:ja", {"license": "gemma"}),
    ("meta-llama/Llama-3.1-8B-Instruct", "bundled:ja", {"license": "llama3.1"}),
    ("Qwen/Qwen2.5-72B-Instruct", "bundled:ja",
     {"license": "other", "license_name": "qwen",
      "license_link": "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE"}),
    ("Qwen/Qwen2.5-7B-Instruct", "my_seeds.jsonl",
     {"license": "other", "license_name": "apache-2.0-and-user-seeds"}),
    ("acme/unknown-7b", "bundled:ja", {"license": "other", "license_name": "unknown"}),
])
def test_card_licence_field(tmp_path, model, seeds, header):
    run = make_run(tmp_path / "run", model, seeds)
    (run.parent / "my_seeds.jsonl").write_text("", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    export(run, "alpaca", out)
    head, _ = _card(tmp_path / "README.md")
    assert {k: head[k] for k in head if k.startswith("license")} == header


def test_commercial_flag_and_its_warning_name_the_real_option():
    from typer.testing import CliRunner

    from tane.cli import app
    from tane.export import licences

    mrl = licences.get("mrl")
    (w,) = [w for w in licences.combination_warnings([mrl]) if "research" in w]
    assert "--no-commercial" in w and "--non-commercial" not in w
    assert not licences.combination_warnings([mrl], commercial=False)
    text = " ".join(CliRunner().invoke(app, ["export", "--help"],
                                       terminal_width=200).output.split())
    assert "--commercial / --no-commercial" in text and "[default: commercial]" in text
    assert "--non-commercial" not in text


@pytest.mark.parametrize("model, lid", [
    ("llm-jp/llm-jp-3-13b-instruct", "apache-2.0"),
    ("llm-jp/llm-jp-3-1.8b", "apache-2.0"),
    ("llm-jp/llm-jp-3-172b-instruct3", "llm-jp-3-172b"),  # its own agreement, not Apache
    ("google/gemma-2-9b-it", "gemma"),
    ("google/gemma-3-27b-it", "gemma"),
    ("google/gemma-4-31b-it", "apache-2.0"),
    ("Qwen/Qwen2.5-14B-Instruct-AWQ", "apache-2.0"),
    ("Qwen/Qwen2.5-3B", "qwen-research"),
    ("Qwen/Qwen2.5-72B-Instruct", "qwen"),
])
def test_registry_entries_the_serving_guide_relies_on(model, lid):
    from tane.export import licences

    assert licences.lookup(model).licence.id == lid
