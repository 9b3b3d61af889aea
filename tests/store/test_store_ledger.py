"""The ledger: rows logged in any order are read back in order-key order; old run
directories are migrated; the store's modules import one way only."""

from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest

from tane.schema import Drop, Provenance, Record
from tane.store.rundir import RunDir, order_key

STORE = Path(__file__).resolve().parents[2] / "src" / "tane" / "store"


def _drop(i: int, stage: str = "curate") -> Drop:
    return Drop(stage=stage, reason=f"r{i}", record_id=f"id{i}", text=f"t{i}",
                detail={"i": i})


def _rec(rid: str) -> Record:
    return Record(id=rid, instruction="q", provenance=Provenance(method="test"))


def test_order_key_sorts_as_the_tuple():
    tuples = [(0, 0), (0, 2), (0, 10), (1, 0), (2, 1), (10, 0), (10, 3, 1), (123456, 7)]
    keys = [order_key(*t) for t in tuples]
    assert sorted(keys) == keys
    assert order_key(3, "a") < order_key(3, "b")
    with pytest.raises(ValueError):
        order_key(-1)


def test_readers_return_key_order_whatever_the_logging_order(tmp_path):
    rd = RunDir(tmp_path)
    # a stage logs records as they complete: out of submission order
    order = [5, 1, 9, 0, 3, 7, 2, 8, 6, 4, 11, 10]
    for i in order:
        rd.log_drops([_drop(i)], keys=[order_key(i // 4, i % 4)])
    rd.log_kept("answer", [_rec(f"rec{i}") for i in (3, 0, 2, 1)],
                keys=[order_key(0, i) for i in (3, 0, 2, 1)])
    rd.log_kept("gen", [_rec("g1")], keys=[order_key(0, 9)])
    assert [d["record_id"] for d in rd.drops()] == [f"id{i}" for i in range(12)]
    assert rd.drops()[3] == {"stage": "curate", "record_id": "id3", "reason": "r3",
                             "detail": {"i": 3}, "text": "t3"}
    assert [r["id"] for r in rd.kept("answer")] == ["rec0", "rec1", "rec2", "rec3"]
    assert [r["id"] for r in rd.kept()] == ["rec0", "rec1", "rec2", "rec3", "g1"]
    rd.close()
    # the same order from a fresh connection: it is in the file, not in memory
    rd = RunDir(tmp_path)
    assert [d["record_id"] for d in rd.drops()] == [f"id{i}" for i in range(12)]
    rd.close()


def test_rows_without_keys_come_first_in_arrival_order(tmp_path):
    rd = RunDir(tmp_path)
    rd.log_drops([_drop(2)], keys=[order_key(1)])
    rd.log_drops([_drop(1), _drop(0)])
    rd.log_drops([_drop(3)], keys=[None])
    assert [d["record_id"] for d in rd.drops()] == ["id1", "id0", "id3", "id2"]
    with pytest.raises(ValueError, match="2 order keys for 1 ledger rows"):
        rd.log_drops([_drop(4)], keys=["a", "b"])
    rd.close()


def test_reset_ledger_clears_rows_still_queued(tmp_path):
    rd = RunDir(tmp_path)
    rd.log_drops([_drop(i) for i in range(100)])
    rd.reset_ledger()
    assert rd.drops() == []
    rd.log_drops([_drop(7)], keys=["k"])
    rd.close()
    con = sqlite3.connect(tmp_path / "run.sqlite")
    assert con.execute("SELECT record_id, ord FROM ledger").fetchall() == [("id7", "k")]
    con.close()


def test_old_run_directory_gets_the_order_column(tmp_path):
    con = sqlite3.connect(tmp_path / "run.sqlite")
    con.executescript("""
        CREATE TABLE calls (key TEXT PRIMARY KEY, kind TEXT NOT NULL, request TEXT NOT NULL,
            response TEXT NOT NULL, puts INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL);
        CREATE TABLE ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, stage TEXT NOT NULL,
            record_id TEXT, status TEXT NOT NULL, reason TEXT, detail TEXT,
            body TEXT NOT NULL);
    """)
    con.executemany("INSERT INTO ledger(stage, record_id, status, reason, detail, body) "
                    "VALUES ('s', ?, 'dropped', 'r', '{}', 'b')", [("b",), ("a",)])
    con.execute("INSERT INTO calls VALUES ('k', 'chat', '{}', '{\"text\": \"old\"}', 1, 0)")
    con.commit()
    con.close()
    rd = RunDir(tmp_path)
    assert [d["record_id"] for d in rd.drops()] == ["b", "a"]  # seq order, as before
    assert rd.get_call("k") == {"text": "old"}
    rd.log_drops([_drop(0)], keys=["x"])
    assert [d["record_id"] for d in rd.drops()] == ["b", "a", "id0"]
    rd.close()
    RunDir(tmp_path).close()  # opening again: nothing to migrate


def test_grid_coverage_reads_the_migrated_ledger(tmp_path):
    from tane.report.coverage import grid_coverage
    recipe = {"stages": [{"method": "grid", "axes": {"task": ["a", "b"]}}]}
    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": recipe}))
    rd = RunDir(tmp_path)
    rd.log_kept("grid", [Record(id="grid-1", instruction="q",
                                provenance=Provenance(method="grid", cell="b"))],
                keys=[order_key(0, 0)])
    rd.close()
    cov = grid_coverage([], [{"stage": "curate", "reason": "length", "record_id": "grid-1",
                              "detail": {}}], tmp_path)
    assert {c["cell"]: c for c in cov["cells"]}["b"]["drop_reasons"] == {"length": 1}


def _store_imports() -> dict[str, set[str]]:
    """module -> the tane.store modules it imports (at any depth in the file)."""
    names = {p.stem for p in STORE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for p in STORE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level == 1:
                    target = mod.split(".")[0] if mod else None
                    if target in names:
                        deps.add(target)
                    elif not mod:
                        deps |= {a.name for a in node.names if a.name in names}
                elif mod.startswith("tane.store."):
                    deps.add(mod.split(".")[2])
        graph[p.stem] = deps - {p.stem}
    return graph


def test_store_modules_import_one_way():
    graph = _store_imports()
    assert "revisions" not in graph["rundir"]
    assert "rundir" in graph["revisions"]
    seen: dict[str, int] = {}

    def visit(m: str, path: tuple[str, ...]) -> None:
        if seen.get(m) == 2:
            return
        assert seen.get(m) != 1, f"import circle: {' -> '.join(path + (m,))}"
        seen[m] = 1
        for d in sorted(graph.get(m, ())):
            visit(d, path + (m,))
        seen[m] = 2

    for m in sorted(graph):
        visit(m, ())
