"""``tane review import`` beside a run and under kill -9: it refuses, with one line and
nothing written, a run directory whose run lock another tane process holds; and a kill
at any point leaves the import done whole or not at all, with no hidden backups.

The kill is fault injection (a real kill cannot be timed to land between two file
renames): the real CLI runs in a subprocess whose ``os.fsync`` / ``os.replace`` sends
it SIGKILL at the n-th call on a file of the run directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT, run_tane
from review.test_review import _dataset, make_run
from review.test_stale_review import _edit, _state
from tane.export.base import load_run
from tane.review import export_review, import_review
from tane.store.rundir import RunDir

KILL_AT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    run, which, nth = str(Path(sys.argv[1]).resolve()), sys.argv[2], int(sys.argv[3])
    real, seen = getattr(os, which), [0]

    def in_run(path):
        return os.path.dirname(os.path.abspath(path)) == run or os.path.abspath(path) == run

    def fault(*args, **kw):  # fault injection: kill -9 at the nth call on the run dir
        target = os.readlink(f"/proc/self/fd/{args[0]}") if which == "fsync" else args[1]
        if in_run(target):
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kw)

    setattr(os, which, fault)
    from tane.cli import main
    sys.argv = ["tane", "review", "import", sys.argv[1], sys.argv[4]]
    main()
""")


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


def _reviewed(run: Path, tmp_path: Path) -> Path:
    x = export_review(run, tmp_path / "x.xlsx").path
    return _edit(x, tmp_path / "reviewed.xlsx", {"si-0000": {"output": "東京都です。"},
                                                 "si-0001": {"status": "drop",
                                                             "note": "重複"}})


def _outputs(run: Path) -> dict[str, str]:
    return {n: (run / n).read_text(encoding="utf-8")
            for n in ("dataset.jsonl", "rejected.jsonl", "stats.json")}


def _decisions(run: Path) -> list[tuple]:
    """The revisions without their time and sequence number."""
    revs, _ = _state(run)
    return [r[1:6] + r[7:8] + r[9:] for r in revs]


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_import_is_refused_while_a_run_holds_the_directory(run: Path,
                                                           tmp_path: Path) -> None:
    reviewed = _reviewed(run, tmp_path)
    before = _state(run)
    holder = RunDir(run, lock=True)  # what `tane run` holds from its start to its end
    try:
        res = run_tane("review", "import", str(run), str(reviewed))
        dry = run_tane("review", "import", str(run), str(reviewed), "--dry-run")
    finally:
        holder.close()
    for r in (res, dry):
        assert r.returncode == 2, r.stdout + r.stderr
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1, r.stderr
        assert f"run directory {run} is in use by another tane run (pid {os.getpid()}" \
            in lines[0], lines[0]
    assert _state(run) == before
    res = run_tane("review", "import", str(run), str(reviewed))
    assert res.returncode == 0, res.stderr
    assert "si-0001" not in _dataset(run)


def test_the_lock_is_not_taken_on_a_directory_that_is_no_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    reviewed = _reviewed(run, tmp_path)
    res = run_tane("review", "import", str(tmp_path / "nope"), str(reviewed))
    assert res.returncode == 2 and "no dataset.jsonl" in res.stderr, res.stderr
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("which,nth,then", [("fsync", 1, "review export"),
                                            ("replace", 1, "review export"),
                                            ("replace", 2, "export")])
def test_a_killed_import_is_whole_or_absent(run: Path, tmp_path: Path, which: str,
                                            nth: int, then: str) -> None:
    reviewed = _reviewed(run, tmp_path)
    ref = shutil.copytree(run, tmp_path / "ref")
    before, before_revs = _outputs(run), _decisions(run)
    import_review(ref, reviewed)   # the same import, not interrupted
    after, after_revs = _outputs(ref), _decisions(ref)
    assert after != before and after_revs != before_revs
    # stats.json counts what dataset.jsonl now holds
    assert json.loads(after["stats.json"]).get("dataset_records") == \
        len(after["dataset.jsonl"].splitlines()) == 7  # the 8 records less the one dropped

    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-c", KILL_AT, str(run), which, str(nth),
                          str(reviewed)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr  # the fault fired
    # the next tane command on the directory sees one state or the other, never a mix
    if then == "review export":
        export_review(run, tmp_path / "next.xlsx")
    else:
        exported = load_run(run).records  # what `tane export` writes out
        assert [r["id"] for r in exported] == \
            [json.loads(x)["id"] for x in after["dataset.jsonl"].splitlines()]
    hidden = sorted(p.name for p in run.iterdir()
                    if p.name.startswith(".") and p.name != ".lock")
    assert hidden == []
    state = (_outputs(run), _decisions(run))
    assert state in ((before, before_revs), (after, after_revs))
    # importing the file again ends where the uninterrupted import did
    import_review(run, reviewed)
    assert (_outputs(run), _decisions(run)) == (after, after_revs)
