"""Seed loading: every file type x format, encodings, broken inputs, bundled sets."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pytest

from tane.errors import TaneError
from tane.seeds import FORMATS, Seed, bundled_seeds_path, load_seeds

# ----------------------------------------------------------------------------- helpers

SI_RECORDS = [
    {"id": "t1", "name": "greet", "instruction": "挨拶を丁寧な言い方に直してください。",
     "instances": [{"input": "おはよう", "output": "おはようございます"}],
     "is_classification": False},
    {"id": "t2", "instruction": "次の文の感情を判定してください。",
     "instances": [{"input": "最高の一日だった", "output": "肯定"},
                   {"input": "最悪だ", "output": "否定"}],
     "is_classification": True},
]
ELYZA_RECORDS = [
    {"input": "「走れメロス」の作者は誰ですか。", "output": "太宰治です。",
     "eval_aspect": "- 太宰治と答えていれば5点"},
    {"input": "1+1は？", "output": "2", "eval_aspect": "正答で5点"},
]
ICHIKARA_RECORDS = [
    {"ID": "ichikara-001", "text": "日本の首都はどこですか。", "output": "東京です。"},
    {"ID": "ichikara-002", "text": "季語を一つ挙げてください。", "output": "桜（春）"},
]
ALPACA_RECORDS = [
    {"instruction": "Translate to English.", "input": "ありがとう", "output": "Thank you"},
    {"instruction": "Give a synonym for happy.", "input": "", "output": "glad"},
]


def write_jsonl(path: Path, records, encoding="utf-8") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding=encoding)
    return path


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def write_csv(path: Path, header, rows, encoding="utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, header, rows, sheet_title=None, extra_sheet_first=False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    if extra_sheet_first:
        ws.title = "notes"
        ws.append(["this sheet is not the seeds"])
        ws = wb.create_sheet(sheet_title or "seeds")
    elif sheet_title:
        ws.title = sheet_title
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def error_of(path, fmt="auto") -> TaneError:
    with pytest.raises(TaneError) as exc:
        load_seeds(path, fmt)
    return exc.value


# ------------------------------------------------------------------ JSONL / JSON formats

@pytest.mark.parametrize("fmt", ["auto", "self_instruct"])
def test_jsonl_self_instruct(tmp_path, fmt):
    p = write_jsonl(tmp_path / "s.jsonl", SI_RECORDS)
    seeds = load_seeds(p, fmt)
    assert [s.id for s in seeds] == ["t1", "t2"]
    s0, s1 = seeds
    assert isinstance(s0, Seed)
    assert s0.instruction == "挨拶を丁寧な言い方に直してください。"
    assert (s0.input, s0.output) == ("おはよう", "おはようございます")
    assert s0.is_classification is False and s1.is_classification is True
    assert len(s1.instances) == 2
    assert s0.extra == {"name": "greet"}
    assert s0.source == str(p)
    d = s1.to_dict()
    assert d["instances"][1] == {"input": "最悪だ", "output": "否定"}
    json.dumps(d, ensure_ascii=False)  # serialisable


@pytest.mark.parametrize("fmt", ["auto", "elyza"])
def test_jsonl_elyza(tmp_path, fmt):
    seeds = load_seeds(write_jsonl(tmp_path / "elyza.jsonl", ELYZA_RECORDS), fmt)
    s = seeds[0]
    assert s.instruction == "「走れメロス」の作者は誰ですか。"
    assert s.instances == [{"input": "", "output": "太宰治です。"}]
    assert s.extra == {"eval_aspect": "- 太宰治と答えていれば5点"}
    assert [x.id for x in seeds] == ["elyza-1", "elyza-2"]  # <stem>-<line>


@pytest.mark.parametrize("fmt", ["auto", "ichikara"])
def test_jsonl_ichikara(tmp_path, fmt):
    seeds = load_seeds(write_jsonl(tmp_path / "ichi.jsonl", ICHIKARA_RECORDS), fmt)
    assert [s.id for s in seeds] == ["ichikara-001", "ichikara-002"]
    assert seeds[0].instruction == "日本の首都はどこですか。"
    assert seeds[0].output == "東京です。" and seeds[0].input == ""
    assert seeds[0].extra == {"ID": "ichikara-001"}


@pytest.mark.parametrize("fmt", ["auto", "alpaca"])
def test_jsonl_alpaca(tmp_path, fmt):
    seeds = load_seeds(write_jsonl(tmp_path / "alp.jsonl", ALPACA_RECORDS), fmt)
    assert [(s.instruction, s.input, s.output) for s in seeds] == [
        ("Translate to English.", "ありがとう", "Thank you"),
        ("Give a synonym for happy.", "", "glad")]
    assert [s.id for s in seeds] == ["alp-1", "alp-2"]


@pytest.mark.parametrize("records,n", [(SI_RECORDS, 2), (ELYZA_RECORDS, 2),
                                       (ICHIKARA_RECORDS, 2), (ALPACA_RECORDS, 2)])
@pytest.mark.parametrize("wrap", [False, True])
def test_json_list_and_data_wrapper(tmp_path, records, n, wrap):
    p = write_json(tmp_path / "seeds.json", {"data": records} if wrap else records)
    seeds = load_seeds(p)
    assert len(seeds) == n
    assert all(s.instruction and s.output for s in seeds)


def test_jsonl_blank_lines_and_crlf(tmp_path):
    p = tmp_path / "crlf.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in ALPACA_RECORDS]
    p.write_bytes(("\r\n\r\n".join(lines) + "\r\n").encode("utf-8"))
    seeds = load_seeds(p)
    assert [s.id for s in seeds] == ["crlf-1", "crlf-3"]  # physical line numbers


def test_text_newlines_normalised_not_nfkc(tmp_path):
    rec = {"instruction": "全角ＡＢＣと半角ｶﾅをそのまま保つ\r\n二行目", "input": "", "output": "①"}
    seeds = load_seeds(write_jsonl(tmp_path / "n.jsonl", [rec]))
    assert seeds[0].instruction == "全角ＡＢＣと半角ｶﾅをそのまま保つ\n二行目"
    assert seeds[0].output == "①"


def test_explicit_format_enforced_on_every_record(tmp_path):
    p = write_jsonl(tmp_path / "mix.jsonl", [ALPACA_RECORDS[0], ICHIKARA_RECORDS[0]])
    err = error_of(p, "alpaca")
    assert err.line == 2 and err.field == "instruction"
    assert "missing required field" in str(err)
    # auto detects from the first record, then holds every record to it
    assert error_of(p).line == 2


def test_explicit_format_mismatch(tmp_path):
    err = error_of(write_jsonl(tmp_path / "a.jsonl", ALPACA_RECORDS), "ichikara")
    assert err.field == "text" and err.line == 1


def test_unknown_format_name(tmp_path):
    err = error_of(write_jsonl(tmp_path / "a.jsonl", ALPACA_RECORDS), "dolly")
    assert err.field == "format"
    assert set(FORMATS) == {"auto", "self_instruct", "elyza", "ichikara", "alpaca"}


def test_undetectable_format(tmp_path):
    err = error_of(write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}]))
    assert "cannot detect" in str(err) and err.line == 1


# ------------------------------------------------------------------------- encodings

def test_jsonl_utf8_bom(tmp_path):
    p = write_jsonl(tmp_path / "bom.jsonl", SI_RECORDS, encoding="utf-8-sig")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [s.id for s in load_seeds(p)] == ["t1", "t2"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_encodings_japanese(tmp_path, encoding):
    p = write_csv(tmp_path / "seeds.csv", ["instruction", "input", "output"],
                  [["次の文を敬語にしてください。", "行く", "参ります"],
                   ["都道府県を一つ挙げてください。", "", "北海道"]], encoding=encoding)
    if encoding == "cp932":
        with pytest.raises(UnicodeDecodeError):
            p.read_bytes().decode("utf-8")
    seeds = load_seeds(p)
    assert [(s.instruction, s.input, s.output) for s in seeds] == [
        ("次の文を敬語にしてください。", "行く", "参ります"),
        ("都道府県を一つ挙げてください。", "", "北海道")]
    assert [s.id for s in seeds] == ["seeds-2", "seeds-3"]


def test_undecodable_bytes_jsonl(tmp_path):
    p = tmp_path / "bad.jsonl"
    good = json.dumps(ALPACA_RECORDS[0], ensure_ascii=False).encode("utf-8")
    p.write_bytes(good + b"\n" + b'{"instruction": "\xff\xfe", "output": "x"}\n')
    err = error_of(p)
    assert err.line == 2
    assert "UTF-8" in str(err) and f"offset {len(good) + 18}" in str(err)


def test_undecodable_bytes_csv_names_encodings(tmp_path):
    p = tmp_path / "bad.csv"
    # 0x80/0xa0 are invalid UTF-8 start bytes and stray single bytes in CP932
    head = b"instruction,output\nok,fine\n"
    p.write_bytes(head + b"\x80\xa0,x\n")
    err = error_of(p)
    assert "UTF-8" in str(err) and "CP932" in str(err)
    assert err.line == 3 and f"offset {len(head)}" in str(err)
    assert f"{p}:3" in str(err)


# ------------------------------------------------------------------------------ CSV

def test_csv_self_instruct_columns(tmp_path):
    p = write_csv(tmp_path / "si.csv", ["id", "instruction", "input", "output", "is_classification"],
                  [["a", "感情を判定してください。", "楽しい", "肯定", "TRUE"],
                   ["b", "要約してください。", "長い文章…", "短い文", "0"],
                   ["c", "詩を書いてください。", "", "春の詩", ""]])
    seeds = load_seeds(p, "self_instruct")
    assert [s.is_classification for s in seeds] == [True, False, None]
    assert seeds[0].instances == [{"input": "楽しい", "output": "肯定"}]
    assert load_seeds(p)[0].is_classification is True  # auto


def test_csv_elyza_and_ichikara(tmp_path):
    p = write_csv(tmp_path / "elyza.csv", ["input", "output", "eval_aspect"],
                  [["質問です。\n二行目", "答え", "観点"]])
    (s,) = load_seeds(p)
    assert s.instruction == "質問です。\n二行目" and s.extra == {"eval_aspect": "観点"}
    p = write_csv(tmp_path / "ichi.csv", ["ID", "text", "output"], [["7", "問い", "答え"]])
    (s,) = load_seeds(p)
    assert s.id == "7" and s.instruction == "問い" and s.extra == {"ID": "7"}


def test_csv_multiline_cell_and_empty_rows(tmp_path):
    p = tmp_path / "ml.csv"
    p.write_text('instruction,output\r\n"一行目\r\n二行目",答え\r\n,\r\n\r\nもう一つ,はい\r\n',
                 encoding="utf-8")
    seeds = load_seeds(p)
    assert seeds[0].instruction == "一行目\n二行目"
    assert [s.id for s in seeds] == ["ml-2", "ml-6"]


def test_csv_missing_output_column(tmp_path):
    err = error_of(write_csv(tmp_path / "m.csv", ["instruction", "input"], [["do", "x"]]))
    assert err.field == "output" and err.line == 2


def test_csv_empty_instruction_cell(tmp_path):
    err = error_of(write_csv(tmp_path / "e.csv", ["instruction", "output"],
                             [["ok", "fine"], ["   ", "answer"]]))
    assert err.field == "instruction" and err.line == 3 and "empty" in str(err)


def test_csv_bad_is_classification(tmp_path):
    err = error_of(write_csv(tmp_path / "c.csv", ["instruction", "output", "is_classification"],
                             [["q", "a", "maybe"]]))
    assert err.field == "is_classification" and err.line == 2


# ------------------------------------------------------------------------------ XLSX

def test_xlsx_self_instruct_japanese(tmp_path):
    p = write_xlsx(tmp_path / "seeds.xlsx", ["instruction", "input", "output", "is_classification"],
                   [["季語の季節を答えてください。", "小春日和", "冬", True],
                    [None, None, None, None],
                    ["敬語に直してください。", None, "承知いたしました", False],
                    ["数を答えてください。", "1+1", 2, 0]])
    seeds = load_seeds(p)
    assert [s.id for s in seeds] == ["seeds-2", "seeds-4", "seeds-5"]
    assert seeds[0].instances == [{"input": "小春日和", "output": "冬"}]
    assert seeds[0].is_classification is True and seeds[1].is_classification is False
    assert seeds[1].input == ""
    assert seeds[2].output == "2"


def test_xlsx_prefers_sheet_named_seeds(tmp_path):
    p = write_xlsx(tmp_path / "book.xlsx", ["ID", "text", "output"],
                   [["x-1", "日本で一番長い川は？", "信濃川"]], extra_sheet_first=True)
    (s,) = load_seeds(p)
    assert s.id == "x-1" and s.output == "信濃川"


@pytest.mark.parametrize("fmt,header,row", [
    ("elyza", ["input", "output", "eval_aspect"], ["質問", "答え", "観点"]),
    ("alpaca", ["instruction", "input", "output"], ["指示", "入力", "出力"]),
])
def test_xlsx_other_formats(tmp_path, fmt, header, row):
    p = write_xlsx(tmp_path / f"{fmt}.xlsx", header, [row])
    assert load_seeds(p)[0].to_dict() == load_seeds(p, fmt)[0].to_dict()


def test_xlsx_missing_instruction_names_row(tmp_path):
    p = write_xlsx(tmp_path / "bad.xlsx", ["instruction", "input", "output"],
                   [["指示", "", "出力"], [None, "入力だけ", "出力"]])
    err = error_of(p)
    assert err.line == 3 and err.field == "instruction"
    assert "row 3" in str(err) and str(p) in str(err)


def test_xlsx_not_a_workbook(tmp_path):
    p = tmp_path / "fake.xlsx"
    p.write_text("not a zip", encoding="utf-8")
    assert "xlsx" in str(error_of(p))


# --------------------------------------------------------------------- broken inputs

def test_bad_json_line(tmp_path):
    p = tmp_path / "broken.jsonl"
    p.write_text(json.dumps(ALPACA_RECORDS[0]) + "\n" + json.dumps(ALPACA_RECORDS[1]) + "\n"
                 + '{"instruction": "x", "output": \n', encoding="utf-8")
    err = error_of(p)
    msg = str(err)
    assert f"{p}:3" in msg and "invalid JSON" in msg
    assert "\n" not in msg and err.line == 3


def test_bad_json_file_reports_line(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": }\n]',
                 encoding="utf-8")
    err = error_of(p)
    assert err.line == 3 and "invalid JSON" in str(err)


def test_non_object_record(tmp_path):
    p = tmp_path / "list.jsonl"
    p.write_text(json.dumps(ALPACA_RECORDS[0]) + '\n["not", "an", "object"]\n', encoding="utf-8")
    err = error_of(p)
    assert err.line == 2 and "object" in str(err)
    err = error_of(write_json(tmp_path / "l.json", [ALPACA_RECORDS[0], "text"]))
    assert err.line == 2 and "record 2" in str(err)
    assert "list" in str(error_of(write_json(tmp_path / "o.json", {"rows": []})))


def test_missing_field_named(tmp_path):
    rec = {"id": "z", "instruction": "q", "is_classification": False}
    err = error_of(write_jsonl(tmp_path / "m.jsonl", [rec]), "self_instruct")
    assert err.field == "instances" and "'instances'" in str(err)
    rec = {"instruction": "q", "instances": [{"input": "x"}]}
    err = error_of(write_jsonl(tmp_path / "m2.jsonl", [rec]))
    assert err.field == "instances[0].output"


@pytest.mark.parametrize("rec,field", [
    ({"instruction": "q", "instances": {"input": "", "output": "a"}}, "instances"),
    ({"instruction": "q", "instances": []}, "instances"),
    ({"instruction": "q", "instances": ["a"]}, "instances[0]"),
    ({"instruction": "q", "instances": [{"input": 3, "output": "a"}]}, "instances[0].input"),
    ({"instruction": ["q"], "instances": [{"input": "", "output": "a"}]}, "instruction"),
    ({"instruction": "q", "instances": [{"input": "", "output": "a"}],
      "is_classification": "yes"}, "is_classification"),
    ({"instruction": "q", "instances": [{"input": "", "output": "a"}],
      "is_classification": 2}, "is_classification"),
    ({"instruction": "  ", "instances": [{"input": "", "output": "a"}]}, "instruction"),
    ({"instruction": "q", "input": "", "output": None}, "output"),
    ({"id": 1.5, "instruction": "q", "input": "", "output": "a"}, "id"),
])
def test_wrong_types(tmp_path, rec, field):
    p = write_jsonl(tmp_path / "w.jsonl", [ALPACA_RECORDS[0], rec])
    err = error_of(p, "self_instruct")
    assert err.field == field and err.line == 2
    assert f"{p}:2" in str(err)


@pytest.mark.parametrize("value,expected", [(True, True), ("false", False), ("TRUE", True),
                                            (1, True), (0, False), ("1", True), (None, None)])
def test_is_classification_values(tmp_path, value, expected):
    rec = {"instruction": "q", "instances": [{"input": "", "output": "a"}],
           "is_classification": value}
    assert load_seeds(write_jsonl(tmp_path / "b.jsonl", [rec]))[0].is_classification is expected


def test_duplicate_ids(tmp_path):
    recs = [SI_RECORDS[0], SI_RECORDS[1], dict(SI_RECORDS[0], name="again")]
    err = error_of(write_jsonl(tmp_path / "dup.jsonl", recs))
    assert err.field == "id" and err.line == 3 and "'t1'" in str(err) and "line 1" in str(err)


def test_unknown_extension(tmp_path):
    p = tmp_path / "seeds.txt"
    p.write_text("hello", encoding="utf-8")
    err = error_of(p)
    assert "'.txt'" in str(err) and str(p) in str(err)


def test_missing_file(tmp_path):
    err = error_of(tmp_path / "nope.jsonl")
    assert "not found" in str(err) and "nope.jsonl" in str(err)


@pytest.mark.parametrize("name,content", [("e.jsonl", ""), ("e.jsonl", "\n  \n"),
                                          ("e.json", "[]"), ("e.csv", "instruction,output\n"),
                                          ("e.csv", "")])
def test_empty_file(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    assert "no seed records" in str(error_of(p))


def test_empty_xlsx(tmp_path):
    p = write_xlsx(tmp_path / "empty.xlsx", ["instruction", "output"], [])
    assert "no seed records" in str(error_of(p))


# ------------------------------------------------------------------------ bundled sets

KANA = re.compile(r"[\u3040-\u30ff]")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_bundled_sets(lang):
    assert bundled_seeds_path(lang).is_file()
    seeds = load_seeds(f"bundled:{lang}")
    assert len(seeds) >= 64
    assert len({s.id for s in seeds}) == len(seeds)
    assert all(s.id.startswith(f"{lang}-") and s.source == f"bundled:{lang}" for s in seeds)
    assert len({s.extra["name"] for s in seeds}) == len(seeds)
    for s in seeds:
        assert s.instruction.strip() and s.output.strip()
        assert isinstance(s.is_classification, bool)
        assert len(s.output) <= 400, s.id
    cls = [s for s in seeds if s.is_classification]
    assert 0.10 <= len(cls) / len(seeds) <= 0.25
    assert all(len(s.output) <= 20 for s in cls)  # labels, not prose
    empty = sum(1 for s in seeds if s.input == "") / len(seeds)
    assert 0.30 <= empty <= 0.50
    assert len({s.instruction for s in seeds}) == len(seeds)


def test_bundled_raw_lines_are_valid_self_instruct():
    for lang in ("ja", "en"):
        for line in bundled_seeds_path(lang).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            assert set(rec) == {"id", "name", "instruction", "instances", "is_classification"}
            assert all(set(i) == {"input", "output"} for i in rec["instances"])


def test_bundled_ja_is_japanese():
    seeds = load_seeds("bundled:ja")
    kana = sum(1 for s in seeds if KANA.search(s.instruction))
    assert kana / len(seeds) >= 0.9
    polite = sum(1 for s in seeds if re.search(r"(ください|ますか|ですか)。?$", s.instruction))
    assert polite / len(seeds) >= 0.9


def test_bundled_en_is_english():
    seeds = load_seeds("bundled:en")
    assert sum(1 for s in seeds if KANA.search(s.instruction)) == 0


def test_unknown_bundled_set():
    err = error_of("bundled:xx")
    assert "ja" in str(err) and "en" in str(err)
