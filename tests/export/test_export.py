"""tane export: formats, split, dataset card and licence registry, on hand-made run dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tane.cli import app
from tane.errors import TaneError
from tane.export import licences
from tane.export.card import MARKER
from tane.export.formats import FORMATS, export, push_to_hub, split_records

datasets = pytest.importorskip("datasets")

GEN = "google/gemma-2-9b-it"
ANS = "acme/mystery-ja-7b"


def _rec(i: int, seed: str | None, output: str | None = "東京です。", *,
         model: str = GEN, licence: str = "gemma", answer_model: str | None = ANS) -> dict:
    steps = []
    if answer_model:
        steps.append({"stage": "answer", "method": "answer", "model": answer_model,
                      "model_revision": "", "license": "unknown", "backend": "openai",
                      "template": "answer/ja_completion.j2@0", "sampling": {"seed": i}})
    return {"id": f"si-{i:04d}", "instruction": f"日本の首都はどこですか？（{i}）",
            "input": "地理の質問" if i % 2 else "", "output": output,
            "provenance": {"method": "self_instruct", "model": model, "model_revision": "",
                           "license": licence, "backend": "openai",
                           "seed_ids": [seed] if seed else [], "parent_id": None,
                           "template": "self_instruct/ja_generate.j2@0",
                           "sampling": {"temperature": 0.7, "seed": i}, "steps": steps,
                           "round": 0, "most_similar": [{"text": "seed:ja-001",
                                                         "rouge_l": 0.3}]}}


def make_run(d: Path, records: list[dict]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "dataset.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    stats = {"target": len(records), "kept": len(records), "rounds": 2, "stages": {
        "self_instruct": {"items_in": 40, "kept": 12, "dropped": {"rouge_similar": 20,
                                                                   "blacklist": 8}},
        "answer": {"items_in": 12, "kept": len(records), "dropped": {"truncated_answer": 1}}}}
    (d / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    manifest = {"tane_version": "0.1.0", "status": "complete",
                "recipe": {"name": "テスト-ja", "seed": 7, "target": len(records),
                           "llm": {"backend": "openai", "model": GEN},
                           "seeds": {"path": "bundled:ja", "format": "auto"},
                           "stages": [{"method": "self_instruct", "mode": "ja",
                                       "prompt_style": "completion",
                                       "sampling": {"temperature": 0.7, "top_p": 0.5}},
                                      {"method": "answer", "mode": "ja",
                                       "prompt_style": "chat",
                                       "sampling": {"temperature": 0.3, "top_p": 0.9}}]},
                "seeds": {"path": "bundled:ja", "count": 68}}
    (d / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False),
                                     encoding="utf-8")
    return d


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    seeds = ["ja-001"] * 6 + ["ja-002"] * 4 + [None] * 2   # 12 with output
    recs = [_rec(i, s) for i, s in enumerate(seeds)]
    recs += [_rec(100, "ja-003", output=None), _rec(101, "ja-003", output="  ")]
    return make_run(tmp_path / "run", recs)


def _load(path: Path, cache: Path):
    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train",
                                 cache_dir=str(cache))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_formats_load_with_datasets(run_dir, tmp_path, fmt, suffix):
    out = tmp_path / "out" / f"data{suffix}"
    rep = export(run_dir, fmt, out, system="あなたは親切なアシスタントです。")
    assert rep.skipped_no_output == 2 and rep.counts == {"train": 12}
    ds = _load(out, tmp_path / "cache")
    assert len(ds) == 12
    row = ds[1]  # record 1 has an input
    want_user = "日本の首都はどこですか？（1）\n\n地理の質問"
    if fmt == "messages":
        assert ds.column_names == ["messages"]
        assert row["messages"] == [
            {"role": "system", "content": "あなたは親切なアシスタントです。"},
            {"role": "user", "content": want_user},
            {"role": "assistant", "content": "東京です。"}]
    elif fmt == "alpaca":
        assert ds.column_names == ["instruction", "input", "output", "system", "history"]
        assert (row["instruction"], row["input"], row["output"], row["history"]) == (
            "日本の首都はどこですか？（1）", "地理の質問", "東京です。", [])
        assert row["system"] == "あなたは親切なアシスタントです。"
    elif fmt == "sharegpt":
        assert ds.column_names == ["conversations", "system"]
        assert row["conversations"] == [{"from": "human", "value": want_user},
                                        {"from": "gpt", "value": "東京です。"}]
    else:
        assert set(ds.column_names) == {"id", "instruction", "input", "output", "provenance"}
        prov = row["provenance"]
        if isinstance(prov, str):  # Parquet: one JSON column
            prov = json.loads(prov)
        assert prov["seed_ids"] == ["ja-001"] and prov["steps"][0]["model"] == ANS
    if suffix == ".jsonl":
        text = out.read_text(encoding="utf-8")
        assert "\\u" not in text and "東京です。" in text
    assert not list(out.parent.glob(".*.tmp"))


def test_dataset_info_entries(run_dir, tmp_path):
    """Entries are named after the dataset (the recipe's name, or --name), not the file."""
    out = tmp_path / "lf"
    export(run_dir, "alpaca", out / "data.jsonl", card=False)
    rep = export(run_dir, "sharegpt", out / "s.jsonl", val_ratio=0.25, card=False,
                 name="qa, share")
    assert rep.name == "qa_share" and not rep.warnings
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"テスト-ja", "qa_share", "qa_share_validation"}
    assert info["テスト-ja"] == {"file_name": "data.jsonl", "formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output",
        "system": "system", "history": "history"}}
    assert info["qa_share"]["file_name"] == "s.train.jsonl"
    assert info["qa_share_validation"] == {
        "file_name": "s.validation.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt"}}
    # the same dataset exported to another file takes over its entry, and says so
    rep = export(run_dir, "alpaca", out / "other.jsonl", card=False)
    assert rep.warnings == [(f"{out / 'dataset_info.json'}: entry 'テスト-ja' pointed at "
                             "data.jsonl, now at other.jsonl (use --name to keep both)")]


def test_stratified_split(run_dir, tmp_path):
    out = tmp_path / "sp" / "d.jsonl"
    rep = export(run_dir, "jsonl", out, val_ratio=0.5, seed=3, card=False)
    assert not out.exists()
    tr, va = (tmp_path / "sp" / "d.train.jsonl"), (tmp_path / "sp" / "d.validation.jsonl")
    train = [json.loads(x) for x in tr.read_text(encoding="utf-8").splitlines()]
    val = [json.loads(x) for x in va.read_text(encoding="utf-8").splitlines()]
    assert rep.counts == {"train": 6, "validation": 6}

    def per_group(rows):
        c: dict[str, int] = {}
        for r in rows:
            g = (r["provenance"]["seed_ids"] or ["none"])[0]
            c[g] = c.get(g, 0) + 1
        return c

    assert per_group(val) == {"ja-001": 3, "ja-002": 2, "none": 1}
    assert per_group(train) == {"ja-001": 3, "ja-002": 2, "none": 1}
    # deterministic for a seed, different picks for another
    again = export(run_dir, "jsonl", out, val_ratio=0.5, seed=3, card=False)
    assert again.counts == rep.counts
    assert [json.loads(x)["id"] for x in va.read_text(encoding="utf-8").splitlines()] == \
        [r["id"] for r in val]
    recs = [json.loads(x) for x in (run_dir / "dataset.jsonl").read_text(
        encoding="utf-8").splitlines()][:12]
    picks = {tuple(r["id"] for r in split_records(recs, 0.5, s)[1]) for s in range(6)}
    assert len(picks) > 1
    with pytest.raises(TaneError):
        split_records(recs, 1.0, 0)


def test_card_two_models_one_unknown(run_dir, tmp_path):
    out = tmp_path / "card" / "d.jsonl"
    rep = export(run_dir, "messages", out)
    card = (tmp_path / "card" / "README.md").read_text(encoding="utf-8")
    header = card.split("---")[1]
    assert "license: other" in header and "- ja" in header
    assert "machine-generated" in header and "- synthetic" in header and "n<1K" in header
    assert MARKER in card
    assert f"| {GEN} | generation (12) |" in card
    assert f"| {ANS} | answer (12) |" in card
    assert "Gemma Terms of Use" in card and "Prohibited Use Policy" in card
    assert "## Warnings" in card and f"{ANS}: licence unknown" in card
    assert any(ANS in w and "unknown" in w for w in rep.warnings)
    assert "rouge_similar (20)" in card and "no_output (2)" in card
    assert "0 records reviewed" in card and "Apache-2.0" in card
    assert "temperature=0.3" in card and "テスト-ja" in card
    notice = (tmp_path / "card" / "NOTICE").read_text(encoding="utf-8")
    assert "Gemma is provided under and subject to the Gemma Terms of Use" in notice


def test_notice_for_llama_and_none_for_apache(tmp_path):
    llama = make_run(tmp_path / "l", [_rec(i, "ja-001", model="meta-llama/Llama-3.1-8B-Instruct",
                                           licence="llama3.1", answer_model=None)
                                      for i in range(3)])
    export(llama, "alpaca", tmp_path / "lo" / "d.jsonl")
    card = (tmp_path / "lo" / "README.md").read_text(encoding="utf-8")
    assert "license: llama3.1" in card and "Built with Llama" in card
    assert "Llama 3.1 Community License" in (tmp_path / "lo" / "NOTICE").read_text(
        encoding="utf-8")
    apache = make_run(tmp_path / "a", [_rec(i, "ja-001", model="Qwen/Qwen3-8B",
                                            licence="apache-2.0", answer_model=None)
                                       for i in range(3)])
    rep = export(apache, "alpaca", tmp_path / "ao" / "d.jsonl")
    assert rep.notice is None and not (tmp_path / "ao" / "NOTICE").exists()
    assert "license: apache-2.0" in (tmp_path / "ao" / "README.md").read_text(encoding="utf-8")


def test_foreign_readme_is_not_overwritten(run_dir, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "README.md").write_text("my project", encoding="utf-8")
    with pytest.raises(TaneError, match="README.md"):
        export(run_dir, "messages", d / "x.jsonl")
    assert not (d / "x.jsonl").exists()
    export(run_dir, "messages", d / "x.jsonl", card=False)
    assert (d / "README.md").read_text(encoding="utf-8") == "my project"


@pytest.mark.parametrize("model,lid", [
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),     # 3.0: output-use clause
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1"),      # 3.1: clause dropped
    ("llama3.2:3b", "llama3.2"), ("meta-llama/Llama-3.3-70B-Instruct", "llama3.3"),
    ("google/gemma-3-27b-it", "gemma"), ("Qwen/Qwen2.5-7B-Instruct", "apache-2.0"),
    ("Qwen/Qwen2.5-3B-Instruct", "qwen-research"), ("Qwen/Qwen2.5-72B-Instruct", "qwen"),
    ("Qwen/Qwen2.5-32B-Instruct", "apache-2.0"), ("QWEN/QWEN3-30B-A3B", "apache-2.0"),
    ("mistralai/Mistral-Small-Instruct-2409", "mrl"),       # research-only
    ("mistralai/Mistral-Small-24B-Instruct-2501", "apache-2.0"),
    ("mistralai/Mistral-Small-3.1-24B-Instruct-2503", "apache-2.0"),
    ("llm-jp/llm-jp-3-13b-instruct", "apache-2.0"),
    ("weblab-GENIAC/Tanuki-8B-dpo-v1.0", "apache-2.0"),
    ("weblab-GENIAC/Tanuki-8x8B-dpo-v1.0", "apache-2.0"),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "apache-2.0"),
])
def test_licence_lookup(model, lid):
    assert licences.lookup(model).licence.id == lid


def test_licence_registry_embedded_unknown_and_conflicts():
    from tane.llm.embedded import GEMMA, SMOLLM2

    for m in (GEMMA, SMOLLM2):
        hit = licences.lookup(m.id, m.license)
        assert hit.licence.id == m.license and not hit.warnings
    unk = licences.lookup("acme/secret-model")
    assert unk.licence.id == "unknown" and not unk.known and "unknown" in unk.warnings[0]
    declared = licences.lookup("acme/secret-model", "apache-2.0")
    assert declared.licence.id == "apache-2.0" and declared.warnings
    assert licences.lookup("Qwen/Qwen2.5-3B-Instruct").warnings  # marked uncertain
    assert licences.get("llama3").notice_required and licences.get("gemma").notice_required
    assert not licences.get("apache-2.0").notice_required
    mrl, apache = licences.get("mrl"), licences.get("apache-2.0")
    assert any("non-commercial" in w for w in licences.combination_warnings([mrl, apache]))
    assert not any("non-commercial" in w for w in
                   licences.combination_warnings([mrl, apache], commercial=False))
    assert licences.combination_warnings([apache]) == []
    ws = licences.combination_warnings([licences.get("llama3"), licences.get("llama3.1")])
    assert any("name prefixes" in w for w in ws)


def test_cli_export_and_errors(run_dir, tmp_path, monkeypatch):
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "sharegpt", "--to",
                                 str(tmp_path / "c" / "d.jsonl")])
    assert r.exit_code == 0, r.output
    assert "skipped" in r.output and "2 record(s) without output" in r.output
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "csv", "--to",
                                 str(tmp_path / "c" / "d.jsonl")])
    assert r.exit_code == 2 and "unknown format" in r.output
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "messages", "--to",
                                 str(tmp_path / "c" / "d.csv")])
    assert r.exit_code == 2 and ".parquet" in r.output
    monkeypatch.delenv("HF_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["export", str(run_dir), "--format", "messages", "--to",
                                 str(tmp_path / "h" / "d.jsonl"), "--push-to-hub", "me/x"])
    assert r.exit_code == 2 and "HF_TOKEN" in r.output
    assert not (tmp_path / "h").exists()
    with pytest.raises(TaneError, match="HF_TOKEN"):
        push_to_hub(None, "me/x")


def test_parquet_without_pyarrow(run_dir, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(TaneError, match="pip install pyarrow"):
        export(run_dir, "messages", tmp_path / "p" / "d.parquet", card=False)


def test_card_judge_scores_and_judge_model(tmp_path):
    recs = [_rec(i, "ja-001", answer_model=None) for i in range(6)]
    verdicts = [{"status": "ok", "quality": q, "reason": "r", "difficulty": "easy",
                 "category": "math"} for q in (5, 4, 4, 2)]
    verdicts += [{"status": "unparseable", "raw": "{oops"}, None]
    for r, v in zip(recs, verdicts):
        if v is not None:
            r["provenance"]["judge"] = v | {"stage": "judge", "model": "Qwen/Qwen3-8B",
                                            "license": "apache-2.0", "backend": "openai"}
    d = make_run(tmp_path / "j", recs)
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["recipe"]["stages"].append({"method": "judge", "mode": "ja", "min_quality": 2})
    (d / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    export(d, "messages", tmp_path / "jo" / "d.jsonl")
    card = (tmp_path / "jo" / "README.md").read_text(encoding="utf-8")
    assert "## Judge scores" in card
    assert "5 exported records were graded by Qwen/Qwen3-8B; 4 have a quality score " \
           "(mean 3.75)" in card
    assert "unparseable 1" in card
    assert "| records | 0 | 1 | 0 | 2 | 1 |" in card
    assert "Difficulty: easy 4." in card and "Category: math 4." in card
    assert "Selection: min_quality=2" in card
    assert "| Qwen/Qwen3-8B | judge (5) | openai |" in card
    assert "0 records reviewed" in card


def test_card_without_judge_has_no_judge_section(run_dir, tmp_path):
    export(run_dir, "messages", tmp_path / "nj" / "d.jsonl")
    assert "## Judge scores" not in (tmp_path / "nj" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["messages", "alpaca", "sharegpt"])
def test_multi_turn_records_export_every_turn(tmp_path, fmt):
    rec = _rec(0, "ja-001", answer_model=None)
    rec["instruction"], rec["output"] = "一つ目の質問（編集済み）", "一つ目の答え"
    rec["provenance"]["messages"] = [
        {"role": "system", "content": "日本語で答えてください。"},
        {"role": "user", "content": "一つ目の質問"}, {"role": "assistant", "content": "一つ目の答え"},
        {"role": "user", "content": "二つ目の質問"}, {"role": "assistant", "content": "二つ目の答え"}]
    single = _rec(1, "ja-001", answer_model=None)
    d = make_run(tmp_path / "mt", [rec, single])
    out = tmp_path / "o" / "d.jsonl"
    export(d, fmt, out, card=False)
    ds = _load(out, tmp_path / "cache")
    row, one = ds[0], ds[1]
    if fmt == "messages":
        assert [m["content"] for m in row["messages"]] == [
            "一つ目の質問（編集済み）", "一つ目の答え", "二つ目の質問", "二つ目の答え"]
        assert [m["role"] for m in one["messages"]] == ["user", "assistant"]
    elif fmt == "alpaca":
        assert (row["instruction"], row["output"]) == ("二つ目の質問", "二つ目の答え")
        assert row["history"] == [["一つ目の質問（編集済み）", "一つ目の答え"]]
        assert one["history"] == [] and one["instruction"].startswith("日本の首都")
    else:
        assert [t["from"] for t in row["conversations"]] == ["human", "gpt", "human", "gpt"]
        assert row["conversations"][2]["value"] == "二つ目の質問"
        assert len(one["conversations"]) == 2
