"""Every command, every kind of user-caused problem with its paths and files: one line
starting with ``error:``, exit code 2, no traceback. Each case runs the real CLI in a
subprocess (the one-line conversion of OSErrors happens in ``tane.cli.main``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_tane
from tane.store.rundir import RunDir


def _make_run(d: Path) -> Path:
    d.mkdir(parents=True)
    rec = {"id": "si-0001", "instruction": "日本の首都はどこですか。", "input": "",
           "output": "東京です。", "provenance": {"method": "self_instruct", "seed_ids": ["s1"],
                                                  "model": "m", "license": "apache-2.0"}}
    (d / "dataset.jsonl").write_text(json.dumps(rec, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    (d / "rejected.jsonl").write_text("", encoding="utf-8")
    (d / "stats.json").write_text(json.dumps({"target": 1, "kept": 1}), encoding="utf-8")
    (d / "manifest.json").write_text(json.dumps({"status": "complete",
                                                 "recipe": {"name": "t", "target": 1}}),
                                     encoding="utf-8")
    RunDir(d).close()
    return d


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("user_errors")
    run = _make_run(w / "run")
    (w / "bad.yaml").write_bytes(b"name: x\xff\nstages:\n  - method: self_instruct\n")
    (w / "dup.yaml").write_text("name: x\nname: y\nstages:\n  - method: self_instruct\n")
    (w / "ftp.yaml").write_text("llm:\n  backend: openai\n  base_url: ftp://h/v1\n"
                                "  model: m\nstages:\n  - method: self_instruct\n")
    (w / "ok.yaml").write_text("name: x\nstages:\n  - method: self_instruct\n")
    (w / "cur.yaml").write_text("lang: ja\nsteps:\n  - name: length\n")
    (w / "badcur.yaml").write_bytes(b"lang: ja\xff\nsteps:\n  - name: length\n")
    (w / "dupcur.yaml").write_text("lang: ja\nsteps:\n  - name: length\nlang: en\n")
    (w / "in.jsonl").write_text('{"instruction": "日本の首都は？"}\n', encoding="utf-8")
    (w / "bad.jsonl").write_bytes(b'{"instruction": "\xff"}\n')
    (w / "file.txt").write_text("x")
    (w / "seeds.txt").write_text("x")
    (w / "notzip.xlsx").write_text("not a zip")
    (w / "bad.csv").write_bytes(b"\xff\xfe\x00garbage\x81\n")
    (w / "d").mkdir()
    garbage = w / "garbage_run"
    shutil.copytree(run, garbage)
    for f in ("run.sqlite-wal", "run.sqlite-shm"):
        (garbage / f).unlink(missing_ok=True)
    (garbage / "run.sqlite").write_bytes(b"garbage" * 100)
    badds = w / "badds_run"
    shutil.copytree(run, badds)
    (badds / "dataset.jsonl").write_bytes(b'{"id": "\xff"}\n')
    return w


# (command line with W for the work folder, a fragment the error line must hold)
CASES = {
    # tane run
    "run: recipe missing": ("run W/nope.yaml -o W/o", "not found"),
    "run: recipe is a directory": ("run W/d -o W/o", "is a directory"),
    "run: recipe not UTF-8": ("run W/bad.yaml -o W/o", "bad.yaml:1: not UTF-8"),
    "run: recipe key twice": ("run W/dup.yaml -o W/o", "given twice (lines 1 and 2)"),
    "run: recipe ftp base_url": ("run W/ftp.yaml -o W/o", "ftp.yaml:3"),
    "run: --llm ftp": ("run W/ok.yaml -o W/o --llm ftp://h/v1", "--llm"),
    "run: --target -3": ("run W/ok.yaml -o W/o --target -3", "--target"),
    "run: --out is a file": ("run W/ok.yaml -o W/file.txt", "names a file"),
    "run: --out under a file": ("run W/ok.yaml -o W/file.txt/sub", "is a file"),
    "run: --out a broken run dir": ("run W/ok.yaml -o W/garbage_run", "not a database"),
    # tane dedup
    "dedup: input missing": ("dedup W/nope.jsonl -o W/o.jsonl", "not found"),
    "dedup: input is a directory": ("dedup W/d -o W/o.jsonl", "is a directory"),
    "dedup: input not UTF-8": ("dedup W/bad.jsonl -o W/o.jsonl", "not UTF-8"),
    "dedup: -o is a directory": ("dedup W/in.jsonl -o W/d", "is a directory"),
    "dedup: -o folder missing": ("dedup W/in.jsonl -o W/nope/o.jsonl", "does not exist"),
    "dedup: -o under a file": ("dedup W/in.jsonl -o W/file.txt/o.jsonl", "does not exist"),
    # tane curate
    "curate: recipe not UTF-8": ("curate W/in.jsonl -r W/badcur.yaml -o W/o.jsonl",
                                 "not UTF-8"),
    "curate: recipe key twice": ("curate W/in.jsonl -r W/dupcur.yaml -o W/o.jsonl",
                                 "given twice"),
    "curate: recipe is a directory": ("curate W/in.jsonl -r W/d -o W/o.jsonl",
                                      "is a directory"),
    "curate: input missing": ("curate W/nope.jsonl -r W/cur.yaml -o W/o.jsonl", "not found"),
    "curate: input not UTF-8": ("curate W/bad.jsonl -r W/cur.yaml -o W/o.jsonl",
                                "not UTF-8"),
    "curate: -o is a directory": ("curate W/in.jsonl -r W/cur.yaml -o W/d", "is a directory"),
    "curate: --seeds missing": ("curate W/in.jsonl -r W/cur.yaml -o W/o.jsonl "
                                "--seeds W/nope.jsonl", "not found"),
    # tane seeds
    "seeds: missing": ("seeds W/nope.jsonl", "not found"),
    "seeds: a directory": ("seeds W/d", "is a directory"),
    "seeds: wrong extension": ("seeds W/seeds.txt", "extension"),
    "seeds: not a workbook": ("seeds W/notzip.xlsx", "xlsx"),
    "seeds: not UTF-8": ("seeds W/bad.jsonl", "cannot decode"),
    # tane stats
    "stats: missing": ("stats W/nope", "not found"),
    "stats: not UTF-8": ("stats W/bad.jsonl --no-charts", "not UTF-8"),
    "stats: --out is a file": ("stats W/run -o W/file.txt --no-charts", "not a directory"),
    "stats: not a run dir": ("stats W/d --no-charts", "no dataset.jsonl"),
    # tane export
    "export: run missing": ("export W/nope -f messages --to W/e.jsonl", "no dataset.jsonl"),
    "export: run is a file": ("export W/file.txt -f messages --to W/e.jsonl",
                              "no dataset.jsonl"),
    "export: --to a directory": ("export W/run -f messages --to W/d", ".jsonl or .parquet"),
    "export: --to wrong extension": ("export W/run -f messages --to W/e.txt",
                                     ".jsonl or .parquet"),
    "export: --to under a file": ("export W/run -f messages --to W/file.txt/e.jsonl",
                                  "not a directory"),
    "export: unknown format": ("export W/run -f xyz --to W/e.jsonl", "unknown format"),
    "export: dataset not UTF-8": ("export W/badds_run -f messages --to W/e2/e.jsonl",
                                  "not UTF-8"),
    # tane review export / import
    "review export: run missing": ("review export W/nope -o W/r.xlsx", "no dataset.jsonl"),
    "review export: -o a directory": ("review export W/run -o W/d", ".xlsx or .csv"),
    "review export: wrong extension": ("review export W/run -o W/r.txt", ".xlsx or .csv"),
    "review export: -o under a file": ("review export W/run -o W/file.txt/r.xlsx",
                                       "not a directory"),
    "review export: broken run.sqlite": ("review export W/garbage_run -o W/g.xlsx",
                                         "not a database"),
    "review import: file missing": ("review import W/run W/nope.xlsx", "not found"),
    "review import: a directory": ("review import W/run W/d", ".xlsx or .csv"),
    "review import: wrong extension": ("review import W/run W/file.txt", ".xlsx or .csv"),
    "review import: not a workbook": ("review import W/run W/notzip.xlsx", "xlsx"),
    "review import: CSV not UTF-8": ("review import W/run W/bad.csv", "cannot decode"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_exit_2(w: Path, case: str) -> None:
    cmd, fragment = CASES[case]
    args = [a.replace("W/", f"{w}/") for a in cmd.split()]
    res = run_tane(*args, *(["--no-progress"] if args[0] == "run" else []), timeout=120)
    assert "Traceback" not in res.stderr + res.stdout, res.stderr[-3000:]
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    text = res.stderr
    if args[0] == "run" and text.startswith("tane run:"):
        # `tane run` says what it starts (it may wrap) before it opens the run directory
        text = text[text.index("\nerror: ") + 1:] if "\nerror: " in text else text
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert fragment in lines[0], lines[0]


def test_os_errors_become_one_line_naming_the_path():
    import errno
    import sqlite3

    from tane.store.files import os_error

    e = os_error(PermissionError(errno.EACCES, "Permission denied", "/data/seeds.jsonl"))
    assert (e.one_line(), e.exit_code) == ("/data/seeds.jsonl: Permission denied", 2)
    e = os_error(IsADirectoryError(errno.EISDIR, "Is a directory", "/data"))
    assert e.one_line() == "/data: is a directory, expected a file"
    full = os_error(OSError(errno.ENOSPC, "No space left on device", "/tmp/x.jsonl"))
    assert full.exit_code == 5
    assert full.one_line().endswith("while writing /tmp/x.jsonl; free space and rerun the "
                                    "same command")
    e = os_error(sqlite3.DatabaseError("file is not a database"), "/r/run.sqlite")
    assert e.one_line() == "/r/run.sqlite: database error: file is not a database"
