"""tane stats: counts, lengths, leading verbs, duplicate clusters, drops, report.json, PNGs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tane.cli import app
from tane.report import verbs
from tane.report.stats import compute_stats, load_dataset, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rec(i, instruction, method="self_instruct", inp="", output="答え", category=None):
    prov = {"method": method}
    if category:
        prov["judge"] = {"quality": 4, "difficulty": 2, "category": category}
    return {"id": f"r{i}", "instruction": instruction, "input": inp, "output": output,
            "provenance": prov}


ROWS = [
    _rec(0, "次の文章を三行で要約してください。", inp="今日は晴れていて、公園には人が多かった。",
         category="summarization"),
    _rec(1, "次の文章を三行で要約してください", category="summarization"),  # near-duplicate
    _rec(2, "次の文章を三行で要約して下さい。", method="evol_instruct"),       # near-duplicate
    _rec(3, "猫についての短い詩を書いてください。", category="creative"),
    _rec(4, "日本の首都について説明してください。", method="alpaca"),
    _rec(5, "以下のレビューを肯定か否定かに分類しなさい。", inp="最高の映画でした。"),
    _rec(6, "量子コンピュータとは何か説明して。"),
    _rec(7, "Write a short poem about the autumn moon.", output="Silver light ..."),
    _rec(8, "Write a short poem about the autumn moon!", output="Pale moon ..."),  # duplicate
    _rec(9, "Classify the following sentences into positive or negative.",
         output="positive", category="classification"),
    _rec(10, "Please explain why the sky is blue.", output="Rayleigh scattering."),
    _rec(11, "Give me a list of five fruits.", method="alpaca", output="apple, pear"),
]
REJECTED = [
    {"stage": "self_instruct", "record_id": None, "reason": "near_duplicate",
     "detail": {"rouge_l": 0.9}, "text": "次の文章を要約してください。"},
    {"stage": "self_instruct", "record_id": None, "reason": "near_duplicate",
     "detail": {}, "text": "x"},
    {"stage": "self_instruct", "record_id": None, "reason": "not_japanese", "detail": {},
     "text": "这是中文"},
    {"stage": "answer", "record_id": "r99", "reason": "empty_output", "detail": {}, "text": "y"},
]
STATS = {"target": 12, "kept": 12, "stages": {
    "self_instruct": {"items_in": 15, "kept": 12,
                      "dropped": {"near_duplicate": 2, "not_japanese": 1}},
    "answer": {"items_in": 13, "kept": 12, "dropped": {"empty_output": 1}}},
    "llm": {"failures": {}}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("run")
    (d / "dataset.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    (d / "rejected.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in REJECTED), encoding="utf-8")
    (d / "stats.json").write_text(json.dumps(STATS), encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def built(run_dir):
    rows, rej, st_json, source = load_dataset(run_dir)
    st = compute_stats(rows, rej, st_json, source=source)
    return st


def test_counts(built):
    c = built.report["counts"]
    assert built.report["n_records"] == 12
    assert c["method"] == {"self_instruct": 9, "alpaca": 2, "evol_instruct": 1}
    assert c["category"] == {"unscored": 8, "summarization": 2, "classification": 1,
                             "creative": 1}
    assert c["language"] == {"ja": 7, "en": 5}


def test_lengths(built):
    ja = built.report["lengths"]["ja"]
    en = built.report["lengths"]["en"]
    assert ja["unit"] == "chars" and en["unit"] == "words"
    assert ja["instruction"]["n"] == 7
    assert ja["instruction"]["min"] == len("次の文章を三行で要約してください")
    assert ja["input"]["empty"] == 5 and ja["input"]["max"] == len(ROWS[0]["input"])
    assert en["instruction"]["max"] == 8  # "Classify the following ... or negative."
    for k in ("min", "q1", "median", "q3", "mean", "max"):
        assert k in en["output"]


def test_leading_verbs_ja(built):
    lv = built.report["leading_verbs"]["ja"]
    got = {x["verb"]: x["count"] for x in lv["top"]}
    if lv["method"] == "fugashi":
        assert got == {"要約する": 3, "説明する": 2, "書く": 1, "分類する": 1}
    else:
        assert got["要約して"] == 2 and got["説明して"] == 2


def test_ja_predicate_regex_fallback():
    assert verbs.ja_predicate_regex("次の文章を要約してください。") == "要約して"
    assert verbs.ja_predicate_regex("猫についての詩を書いてください") == "書いて"
    assert verbs.ja_predicate_regex("英語に翻訳しなさい。") == "翻訳し"
    assert verbs.ja_predicate_regex("質問に答えて。") == "答えて"


def test_leading_verbs_en(built):
    en = built.report["leading_verbs"]["en"]
    got = {x["verb"]: x["count"] for x in en["top"]}
    assert got == {"write": 2, "classify": 1, "explain": 1, "give": 1}
    pairs = {x["pair"]: x["count"] for x in en["top_verb_object"]}
    assert pairs == {"write poem": 2, "classify sentences": 1, "give list": 1}
    assert verbs.en_leading_verb("Can you summarize this article?") == ("summarize", "article")
    assert verbs.en_leading_verb("What is the capital of France?") == ("what", None)


def test_duplicate_clusters(built):
    dup = built.report["duplicates"]
    assert dup["threshold"] == 0.7
    assert dup["n_clusters"] == 2 and dup["n_duplicates"] == 3
    first, second = dup["clusters"]
    assert first["size"] == 3 and first["representative_index"] == 0
    assert {s["index"] for s in first["samples"]} == {1, 2}
    assert all(s["rouge_l"] > 0.7 for s in first["samples"])
    assert second["size"] == 2 and second["representative_index"] == 7


def test_drops(built):
    d = built.report["drops"]
    assert d["rejected_total"] == 4
    assert d["rejected_by_reason"] == {"near_duplicate": 2, "empty_output": 1,
                                       "not_japanese": 1}
    assert d["rejected_by_stage"]["answer"] == {"empty_output": 1}
    assert d["stats_json_by_stage"]["self_instruct"] == {"near_duplicate": 2,
                                                         "not_japanese": 1}


def test_jsonl_file_with_dedup_rejected(tmp_path):
    f = tmp_path / "rows.jsonl"
    f.write_text("".join(json.dumps({"instruction": r["instruction"], "input": r["input"],
                                     "output": r["output"]}, ensure_ascii=False) + "\n"
                         for r in ROWS[:4]), encoding="utf-8")
    (tmp_path / "rows.rejected.jsonl").write_text(json.dumps(
        {"instruction": "a", "_drop": {"reason": "near_duplicate", "detail": {}}}) + "\n",
        encoding="utf-8")
    rows, rej, st_json, source = load_dataset(f)
    st = compute_stats(rows, rej, st_json, source=source)
    assert st.report["counts"]["method"] == {"unknown": 4}
    assert st.report["drops"]["rejected_by_reason"] == {"near_duplicate": 1}
    assert Path(source["default_out"]) == tmp_path / "stats"


def _is_png(p: Path) -> bool:
    return p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 1024


def test_report_and_charts(built, tmp_path):
    pytest.importorskip("matplotlib")
    from tane.report.charts import find_japanese_font

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = write_report(built, tmp_path / "stats")
    glyph = [w for w in caught if "missing from font" in str(w.message)
             or "Glyph" in str(w.message)]
    font = find_japanese_font()
    rep = json.loads((tmp_path / "stats" / "report.json").read_text(encoding="utf-8"))
    # UTF-8, no \u escapes
    assert "要約する" in (tmp_path / "stats" / "report.json").read_text(encoding="utf-8") \
        or rep["leading_verbs"]["ja"]["method"] == "regex"
    assert rep["n_records"] == 12 and rep["counts"]["language"] == {"ja": 7, "en": 5}
    assert rep["duplicates"]["n_clusters"] == 2
    names = set(rep["charts"])
    assert {"counts_method.png", "counts_language.png", "counts_category.png",
            "length_ja_instruction.png", "length_en_instruction.png", "verbs_ja.png",
            "verbs_en.png", "drop_reasons.png"} <= names
    for p in info["charts"]:
        assert _is_png(Path(p)), p
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "stats" / "verbs_ja.png")
    assert img.shape[0] > 100 and img.shape[1] > 100
    if font["family"]:
        assert not glyph, [str(w.message) for w in glyph]
        assert rep["font"]["family"] == font["family"]
        assert rep["font"]["label_ids"] == {}
    else:  # documented fallback: ids instead of Japanese labels, with a warning
        assert rep["font"]["label_ids"]
        assert all(v.startswith("#") for v in rep["font"]["label_ids"].values())
        assert any("no font with Japanese glyphs" in str(w.message) for w in caught)


def test_fallback_labels_without_cjk_font(built, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from tane.report import charts

    monkeypatch.setattr(charts, "find_japanese_font",
                        lambda: {"family": None, "path": None, "source": "none"})
    with pytest.warns(UserWarning, match="no font with Japanese glyphs"):
        font, paths = charts.draw_all(built, tmp_path)
    assert font["label_ids"]
    assert all(v.startswith("#") for v in font["label_ids"].values())
    assert all(_is_png(p) for p in paths)


def test_without_matplotlib(built, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "tane.report.charts" or (name == "tane.report" and a and a[2]
                                            and "charts" in a[2]):
            raise ImportError("no matplotlib")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    info = write_report(built, tmp_path)
    assert info["charts"] == []
    assert "pip install 'tane[report]'" in info["charts_error"]
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["n_records"] == 12


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_cli(run_dir, tmp_path):
    res = CliRunner().invoke(app, ["stats", str(run_dir), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "by method" in res.output and "duplicate clusters" in res.output
    assert (tmp_path / "o" / "report.json").exists()
    res = CliRunner().invoke(app, ["stats", str(tmp_path / "missing")])
    assert res.exit_code != 0
