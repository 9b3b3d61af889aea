"""Small frictions of the command line, each kept fixed: --version, defaults in every
--help, help texts printed as written, and `tane curate` on columns with other names."""

from __future__ import annotations

import json
import re

import pytest
import typer.main
from typer.testing import CliRunner

import tane
from tane.cli import app

runner = CliRunner()


def commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


ALL = list(commands(typer.main.get_command(app)))


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    res = runner.invoke(app, [flag])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"tane {tane.__version__}"


@pytest.mark.parametrize("path, cmd", ALL, ids=[" ".join(p) for p, _ in ALL])
def test_every_option_says_its_default(path, cmd):
    """An option either shows typer's [default: …] or says in its help what happens
    without it; flags that are off unless given need neither."""
    res = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    for p in cmd.params:
        if getattr(p, "param_type_name", "") != "option" or p.required or p.name == "help":
            continue
        if p.is_flag and not p.default and not p.secondary_opts:
            continue
        if p.show_default and p.default not in (None, [], ()):
            shown = p.default if not p.is_flag else (
                p.opts[0] if p.default else p.secondary_opts[0]).lstrip("-")
            assert f"[default: {shown}]" in text, (p.name, text)
        else:
            assert "default" in (p.help or ""), f"{' '.join(path)} {p.opts[0]}: no default said"


def test_run_help_shows_the_effective_defaults():
    res = runner.invoke(app, ["run", "--help"], terminal_width=200)
    text = " ".join(res.output.split())
    assert "(default: the recipe's)" in text  # --target
    assert "default: the recipe's llm:" in text
    assert "[default: local]" in text and "shard_size (default 64)" in text


def test_help_texts_are_printed_as_written():
    """Square brackets are not markup: the extras' names survive."""
    res = runner.invoke(app, ["stats", "--help"], terminal_width=200)
    assert "needs tane[report]" in " ".join(res.output.split())
    res = runner.invoke(app, ["run", "--help"], terminal_width=200)
    assert "needs tane[ray]" in " ".join(res.output.split())


# ----------------------------------------------------------------- tane curate --field

ROWS = [{"prompt": "日本の首都はどこですか。", "response": "東京です。", "uid": 1},
        {"prompt": "富士山の高さは？", "response": "3776メートルです。", "uid": 2}]


def _setup(tmp_path, rows=ROWS):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lang: ja\nsteps:\n  - name: length\n", encoding="utf-8")
    return data, cfg


def test_curate_on_other_column_names_fails_and_suggests_the_mapping(tmp_path):
    data, cfg = _setup(tmp_path)
    out = tmp_path / "out.jsonl"
    res = runner.invoke(app, ["curate", str(data), "-r", str(cfg), "-o", str(out)])
    assert res.exit_code == 2
    line = res.output.strip()
    assert len(line.splitlines()) == 1, line
    assert "no row has a column 'instruction'" in line
    assert "columns found: prompt, response, uid" in line
    assert "--field instruction=prompt --field output=response" in line
    assert str(data) in line
    assert not out.exists() and not (tmp_path / "out.rejected.jsonl").exists()
    # with the suggested mapping it works
    res = runner.invoke(app, ["curate", str(data), "-r", str(cfg), "-o", str(out),
                              "--field", "instruction=prompt", "--field", "output=response"])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["uid"] for x in out.read_text(encoding="utf-8").splitlines()] == \
        [1, 2]


def test_curate_hint_without_a_likely_column(tmp_path):
    data, cfg = _setup(tmp_path, [{"a": "x", "b": "y"}])
    res = runner.invoke(app, ["curate", str(data), "-r", str(cfg),
                              "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2
    assert re.search(r"columns found: a, b; map them with --field instruction=<column>",
                     res.output)


def test_curate_mapped_instruction_column_missing_lists_columns(tmp_path):
    data, cfg = _setup(tmp_path)
    res = runner.invoke(app, ["curate", str(data), "-r", str(cfg), "-o",
                              str(tmp_path / "o.jsonl"), "--field", "instruction=question"])
    assert res.exit_code == 2
    assert "no row has a column 'question'" in res.output
    assert "columns found: prompt, response, uid" in res.output


# ----------------------------------------------------------------------------- tane seeds

def test_seeds_shows_format_encoding_and_two_samples(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes("instruction,input,output\n日本の首都は？,,東京です。\n要約して,\"長い\n文章\",短い\n"
                  "三つ目,,三\n".encode("cp932"))
    res = runner.invoke(app, ["seeds", str(p)], terminal_width=200)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"3 seeds from {p}: 1 with input, 0 classification"
    assert lines[1] == ("format: alpaca (detected from the keys instruction, input, output); "
                        "encoding: CP932 (Shift_JIS)")
    assert lines[2:] == ["sample s-2:", "  instruction: 日本の首都は？", "  output: 東京です。",
                         "sample s-3:", "  instruction: 要約して", "  input: 長い ⏎ 文章",
                         "  output: 短い"]


def test_seeds_bom_and_named_format(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"input": "質問です。", "output": "答え"},
                                               ensure_ascii=False).encode())
    res = runner.invoke(app, ["seeds", str(p), "--format", "elyza"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "format: elyza (as named); encoding: UTF-8 with BOM" in res.output


def test_instruction_only_csv_says_which_format_was_assumed(tmp_path):
    p = tmp_path / "io.csv"
    p.write_bytes("instruction\n日本の首都は？\n".encode("cp932"))
    res = runner.invoke(app, ["seeds", str(p)], terminal_width=200)
    assert res.exit_code == 2
    line = res.output.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith(f"error: {p}:2: field 'output': missing required field")
    assert "read as alpaca, detected from the keys instruction;" in line
