"""Field size limits: a ~1M-character Japanese instruction is refused in seeds (one line),
dropped as ``too_long`` by dedup/curate, and never crashes the MeCab tokenizer (which
dies with SIGSEGV on such text when handed it whole)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT, read_jsonl, run_tane
from tane.config.limits import MAX_FIELD_CHARS, MORPH_CHUNK_CHARS
from tane.curate.tokenize import morph_available, morph_chunks

# kanji without any break: what MeCab crashed on (Hiragana or Katakana runs alike)
HUGE = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1_000_000))


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")


def test_seed_with_a_1m_char_instruction_is_one_line_naming_file_line_field(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    _write_jsonl(seeds, [{"instruction": "日本の首都はどこですか。", "output": "東京です。"},
                         {"instruction": HUGE, "output": "はい。"}])
    res = run_tane("seeds", str(seeds), timeout=120)
    assert res.returncode == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert f"{seeds}:2:" in lines[0] and "'instruction'" in lines[0]
    assert "too long" in lines[0] and f"{MAX_FIELD_CHARS:,}" in lines[0]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.skipif(not morph_available(), reason="needs fugashi + unidic-lite")
def test_morph_tokenizer_survives_a_1m_char_text():
    code = ("from tane.curate.tokenize import get_tokenizer\n"
            "s=''.join(chr(0x4E00+(i*7919)%20000) for i in range(1_000_000))\n"
            "print(len(get_tokenizer('morph')(s)))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, (res.returncode, res.stderr[-500:])
    assert int(res.stdout.strip()) > 100_000


def test_morph_chunks_keep_short_text_whole_and_cut_long_text_at_breaks():
    assert morph_chunks("日本語の文です。") == ["日本語の文です。"]
    text = ("これは文です。" * 5000) + "あ" * 30_000
    pieces = morph_chunks(text)
    assert "".join(pieces) == text
    assert all(len(p) <= MORPH_CHUNK_CHARS for p in pieces)
    # where there is a sentence end, the cut is right after one
    assert pieces[0].endswith("。")


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.skipif(not morph_available(), reason="needs fugashi + unidic-lite")
def test_dedup_drops_the_1m_char_row_as_too_long_and_keeps_the_others(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(src, [{"id": 1, "instruction": "日本の四季について説明してください。"},
                       {"id": 2, "instruction": HUGE},
                       {"id": 3, "instruction": "Pythonでリストを逆順にする方法を教えてください。"}])
    res = run_tane("dedup", str(src), "-o", str(out), "--tokenizer", "morph", timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [r["id"] for r in read_jsonl(out)] == [1, 3]
    rej = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert [(r["id"], r["_drop"]["reason"]) for r in rej] == [(2, "too_long")]
    assert rej[0]["_drop"]["detail"] == {"field": "instruction", "chars": len(HUGE),
                                         "max": MAX_FIELD_CHARS}


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_curate_drops_an_oversized_output_as_too_long(tmp_path):
    src, out, rec = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "c.yaml"
    rec.write_text("lang: ja\nsteps:\n  - name: length\n", encoding="utf-8")
    _write_jsonl(src, [{"id": 1, "instruction": "日本の四季について説明してください。",
                        "output": "春夏秋冬があります。"},
                       {"id": 2, "instruction": "長い答えを書いてください。", "output": HUGE}])
    res = run_tane("curate", str(src), "-r", str(rec), "-o", str(out), timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [r["id"] for r in read_jsonl(out)] == [1]
    rej = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert rej[0]["_drop"]["reason"] == "too_long"
    assert rej[0]["_drop"]["detail"]["field"] == "output"


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_run_source_row_over_the_limit_is_a_too_long_drop(tmp_path):
    src = tmp_path / "src.jsonl"
    _write_jsonl(src, [{"instruction": "日本の首都について説明してください。",
                        "output": "東京です。日本の首都は東京です。"},
                       {"instruction": HUGE[:MAX_FIELD_CHARS + 1], "output": "はい。"}])
    rec = tmp_path / "r.yaml"
    rec.write_text("name: src\nsource: {path: src.jsonl}\nstages:\n  - method: curate\n"
                   "    steps:\n      - name: length\n", encoding="utf-8")
    res = run_tane("run", str(rec), "-o", str(tmp_path / "run"), "--no-progress",
                   timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(read_jsonl(tmp_path / "run" / "dataset.jsonl")) == 1
    drops = read_jsonl(tmp_path / "run" / "rejected.jsonl")
    assert [(d["stage"], d["reason"]) for d in drops] == [("source", "too_long")]
    assert drops[0]["detail"]["chars"] == MAX_FIELD_CHARS + 1
