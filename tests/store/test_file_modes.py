"""Every file tane writes gets the mode the umask gives a new file: a run directory, an
export (card and training script included), a review file and the file commands' outputs
are readable by others under umask 022 (shared storage, a training container under another
user), and owner-only under 077. Real CLI runs in a subprocess under a set umask; the run
starts from a source file with a curate stage, so no model is needed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tane_cmd

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")

ROWS = [{"instruction": "日本の首都はどこですか？", "output": "東京です。"},
        {"instruction": "富士山の高さは何メートルですか？", "output": "3776 メートルです。"},
        {"instruction": "日本の首都はどこですか？", "output": "東京です。"}]


def _tane(umask: int, *args: str) -> subprocess.CompletedProcess:
    env = os.environ.copy() | {"PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(tane_cmd(*args), capture_output=True, text=True, timeout=300,
                          env=env, cwd=ROOT, umask=umask)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _files(tmp_path: Path, umask: int) -> dict[str, Path]:
    """Every file the commands below write, by what it is."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS),
                    encoding="utf-8")
    (tmp_path / "curate.yaml").write_text("lang: ja\nsteps:\n  - {name: length}\n",
                                          encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: modes\nsource: {path: rows.jsonl}\nstages:\n"
                      "  - method: curate\n    lang: ja\n    steps:\n"
                      "      - {name: length}\n", encoding="utf-8")
    run, ex = tmp_path / "run", tmp_path / "ex"
    commands = [
        ("run", str(recipe), "--out", str(run), "--no-progress"),
        ("export", str(run), "-f", "messages", "--to", str(ex / "train.jsonl"),
         "--for", "trl", "--base-model", "org/base"),
        ("review", "export", str(run), "-o", str(tmp_path / "review.csv")),
        ("dedup", str(rows), "-o", str(tmp_path / "dedup.jsonl")),
        ("curate", str(rows), "--recipe", str(tmp_path / "curate.yaml"),
         "-o", str(tmp_path / "curated.jsonl")),
    ]
    for args in commands:
        res = _tane(umask, *args)
        assert res.returncode == 0, (args, res.stderr)
    files = {f"run/{p.name}": p for p in run.iterdir() if p.is_file()
             and not p.name.startswith(".")}
    files |= {f"ex/{p.name}": p for p in ex.iterdir() if p.is_file()}
    for name in ("review.csv", "dedup.jsonl", "dedup.rejected.jsonl", "curated.jsonl",
                 "curated.rejected.jsonl"):
        files[name] = tmp_path / name
    for must in ("run/dataset.jsonl", "run/rejected.jsonl", "run/manifest.json",
                 "run/stats.json", "ex/train.jsonl", "ex/README.md", "ex/train_trl.sh"):
        assert must in files, (must, sorted(files))
    return files


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.parametrize("umask,data,script", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_follow_the_umask(tmp_path, umask, data, script):
    files = _files(tmp_path, umask)
    modes = {name: oct(_mode(p)) for name, p in files.items()}
    want = {name: oct(script if name.endswith(".sh") else data) for name in files}
    assert modes == want
    leftovers = [p.name for folder in {p.parent for p in files.values()}
                 for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []

