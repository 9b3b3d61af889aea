"""Typed provenance: each method's registered shape, the steps later stages append, the
accessors readers use, and records written before steps held everything.

``tests/data/old_provenance_run`` is a run directory written by tane before the judge's
verdict and the Evol-Instruct chain became steps (source -> evol_instruct -> answer ->
judge on the embedded model, ``recipe.yaml`` beside it): the top-level ``judge`` and
``evol_chain`` of its records are read as steps, and every reader shows the figures it
showed when the run was written."""

from __future__ import annotations

import ast
import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import DATA
from tane.cli import app
from tane.config.answer import AnswerStep
from tane.config.base import NoveltyOrigin
from tane.config.context import SampledOrigin, SampledStep
from tane.config.evol_instruct import EvolStep
from tane.config.judge import JudgeStep
from tane.config.registry import METHODS
from tane.config.seeds import SourceOrigin
from tane.provenance import HumanReview, Origin, Provenance, Step

OLD_RUN = DATA / "old_provenance_run"
SRC = Path(__file__).resolve().parents[1] / "src" / "tane"
runner = CliRunner()


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(OLD_RUN, run)  # the readers may write beside it (stats/)
    return run


def _rows() -> list[dict]:
    lines = (OLD_RUN / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


# -- old records ----------------------------------------------------------------------
def test_old_top_level_judge_and_evol_chain_become_steps():
    rows = {r["id"]: r for r in _rows()}
    assert all("judge" in r["provenance"] for r in rows.values())  # as written then
    child = Provenance.of_row(rows["ev-3cfd4d4564"])
    assert [s.method for s in child.all_steps()] == ["evol_instruct", "answer", "judge"]
    evol = child.step(EvolStep)
    assert evol is not None and evol.operation == "concretize" and evol.epoch == 1
    assert evol.template.startswith("evol_instruct/ja_concretize")
    assert child.method == "source" and child.origin(SourceOrigin).row == 1  # the origin
    assert child.made_by().method == "evol_instruct" and child.parent() == "s1"
    assert child.lineage() == ["s1", "ev-3cfd4d4564"]
    verdict = child.step(JudgeStep)
    assert verdict is not None and verdict.scored and verdict.quality == 5
    assert verdict.category == "information seeking" and verdict.attempts[0].constrained
    parent = Provenance.of_row(rows["s2"])
    assert parent.made_by().method == "source" and parent.lineage() == []
    assert [s.method for s in parent.all_steps()] == ["answer", "judge"]
    assert parent.step(JudgeStep).quality == 3  # type: ignore[union-attr]
    # nothing left over: every key of every migrated step is declared by its shape
    for r in rows.values():
        prov = Provenance.of_row(r)
        assert "judge" not in (prov.model_extra or {})
        for step in prov.steps:
            assert METHODS[step["method"]].provenance.unknown(step) == set(), step
        assert SourceOrigin.unknown(prov.model_extra or {}) == set()


def test_reading_is_tolerant_and_writing_appends():
    assert Provenance.read(None).method == "" and Provenance.of_row({}).all_steps() == []
    odd = Provenance.read({"method": 3, "steps": [{"method": "judge", "quality": "x"}], "cell": 1})
    assert odd.method == "" and odd.step(JudgeStep).quality is None  # type: ignore[union-attr]
    base = Provenance(method="self_instruct")
    judged = base.with_step(JudgeStep(stage="judge", status="ok", quality=4, reason="良い"))
    assert base.steps == [] and judged.steps[-1]["method"] == "judge"
    assert "parse_error" not in judged.steps[-1]  # None is left out
    assert judged.lookup("judge.quality") == 4 and judged.lookup("judge.nothing") is None
    assert judged.view()["judge"]["reason"] == "良い"
    twice = judged.with_step(JudgeStep(stage="judge#2", status="ok", quality=2))
    assert twice.step(JudgeStep).quality == 2  # type: ignore[union-attr]  # the later one
    assert [s.quality for s in twice.steps_of(JudgeStep)] == [4, 2]


# -- the readers, on the old run: the figures they showed when it was written -----------
def test_old_run_stats_and_show(old_run):
    res = runner.invoke(app, ["stats", str(old_run), "--no-charts"])
    assert res.exit_code == 0, res.output
    report = json.loads((old_run / "stats" / "report.json").read_text(encoding="utf-8"))
    assert report["counts"]["method"] == {"source": 2, "evol_instruct": 1}
    assert report["counts"]["category"] == {"information seeking": 3}
    assert report["drops"]["rejected_by_reason"] == {"no_information_gain": 1}
    res = runner.invoke(app, ["show", str(old_run), "-n", "3"])
    assert res.exit_code == 0, res.output
    assert "3 kept, 1 dropped (no_information_gain 1)" in res.output
    assert "ev-3cfd4d4564" in res.output


def test_old_run_review_export(old_run, tmp_path):
    out = tmp_path / "review.csv"
    res = runner.invoke(app, ["review", "export", str(old_run), "-o", str(out),
                              "--include-dropped"])
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = [(r["id"], r["method"], r["judge_score"], r["judge_reason"], r["drop_reason"])
                for r in csv.DictReader(f)]
    assert rows == [("s1", "source", "5", "正確で簡潔、自然な日本語。", ""),
                    ("ev-3cfd4d4564", "evol_instruct", "5", "正確で簡潔、自然な日本語。", ""),
                    ("s2", "source", "3", "…", ""),
                    ("rejected:1", "evol_instruct", "", "", "no_information_gain")]


def test_old_run_export_and_card(old_run, tmp_path):
    out = tmp_path / "export" / "data.jsonl"
    res = runner.invoke(app, ["export", str(old_run), "-f", "jsonl", "--to", str(out)])
    assert res.exit_code == 0, res.output
    card = (out.parent / "README.md").read_text(encoding="utf-8")
    assert ("3 exported records were graded by google/gemma-3-270m (Q4_K_M GGUF); 3 have a "
            "quality score (mean 4.33).") in card
    assert "| records | 0 | 0 | 1 | 0 | 2 |" in card
    assert "Difficulty: very easy 2, easy 1." in card and "Category: information seeking 3." in card
    assert "| (not recorded) | source (2) |" in card
    roles = next(line for line in card.splitlines()
                 if line.startswith("| google/gemma-3-270m (Q4_K_M GGUF) |")).split(" | ")[1]
    assert sorted(roles.split(", ")) == ["answer (3)", "generation (1)", "judge (3)"]
    assert "| google/gemma-3-270m (Q4_K_M GGUF) | `answer` | answered by this stage | 3 |" in card
    exported = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in exported] == ["s1", "ev-3cfd4d4564", "s2"]


# -- the shapes, and readers that go through them -------------------------------------
def test_every_method_registers_its_shape():
    for name, m in METHODS.items():
        shape = m.provenance
        assert issubclass(shape, Origin if m.generator else Step), name
        assert shape.METHOD in (name, ""), name
    assert METHODS["judge"].provenance is JudgeStep
    assert METHODS["evol_instruct"].provenance is EvolStep
    assert METHODS["answer"].provenance is AnswerStep


def _declared() -> set[str]:
    """Every key some registered shape declares, with Provenance's own."""
    keys = set(Provenance.model_fields) | set(SourceOrigin.model_fields)
    for m in METHODS.values():
        keys |= set(m.provenance.model_fields)
    return keys


def test_reader_views_name_only_keys_a_writer_declares():
    """The shapes readers use across methods (novelty, sampled context) name no key that
    no method records: renaming a key in a method's shape fails here."""
    declared = _declared()
    for view in (NoveltyOrigin, SampledOrigin, SampledStep):
        missing = set(view.model_fields) - declared
        assert not missing, f"{view.__name__} reads {missing}, which no method records"
    assert set(HumanReview.model_fields) >= {"original", "status", "revision"}


def _string_reads(text: str, name: str) -> list[str]:
    """``x["key"]`` and ``x.get("key")`` in ``text`` where x is a provenance: a name or
    attribute ``prov``/``provenance``, or ``....get("provenance")`` /
    ``...["provenance"]``."""
    found = []
    for node in ast.walk(ast.parse(text)):
        target = key = None
        if isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args:
            target, key = node.func.value, node.args[0]
            if ast.unparse(target).endswith("provenance.model_extra"):  # its extras by key
                target = ast.Name("provenance")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) >= 2:
            target, key = node.args[0], node.args[1]
        if target is None or not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            continue
        code = ast.unparse(target)
        if code.rsplit(".", 1)[-1] in ("prov", "provenance") \
                or code.endswith(("get('provenance')", "['provenance']")):
            found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_reads_provenance_by_key():
    """Readers go through :class:`tane.provenance.Provenance`'s accessors and the
    methods' shapes; only that module reads stored keys (and the review overlay, which
    writes ``human_review`` into a row's dict)."""
    allowed = {SRC / "provenance.py", SRC / "store" / "revisions.py"}
    texts = {p: p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.py"))
             if p not in allowed}
    found = [hit for p, text in texts.items() if "prov" in text
             for hit in _string_reads(text, str(p.relative_to(SRC.parent)))]
    assert not found, "provenance read by key:\n" + "\n".join(found)


def test_the_key_check_finds_reads_by_key():
    code = ('def f(row, rec):\n    prov = row.get("provenance") or {}\n'
            '    a = rec.provenance.model_extra.get("instance_index", 0)\n'
            '    setattr(rec.provenance, "judge", {})\n'
            '    return prov.get("judge"), row["provenance"]["cell"], prov["steps"]\n')
    assert len(_string_reads(code, "reader.py")) == 5


def _origin_writes() -> dict[str, set[str]]:
    """method -> the keys its ``Provenance(method="...", ...)`` calls write (keywords, and
    the keys of dicts spread into them), read from the source of every module."""
    out: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "Provenance(" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "Provenance"):
                continue
            method = next((k.value.value for k in node.keywords if k.arg == "method"
                           and isinstance(k.value, ast.Constant)), None)
            if not isinstance(method, str):
                continue
            keys = out.setdefault(method, set())
            for k in node.keywords:
                if k.arg is not None:
                    keys.add(k.arg)
                else:  # **{...}: the literal keys of the dicts spread in
                    keys |= {d.value for sub in ast.walk(k.value) if isinstance(sub, ast.Dict)
                             for d in sub.keys if isinstance(d, ast.Constant)}
    return out


def test_generators_write_only_what_their_shape_declares():
    """A generator that writes a key its registered shape does not declare (a rename in
    the writer, or a new key) fails here, before any reader misses it."""
    writes = _origin_writes()
    shapes = {n: m.provenance for n, m in METHODS.items() if m.generator}
    shapes["source"] = SourceOrigin
    assert set(shapes) <= set(writes) | {"source"}, set(shapes) - set(writes)
    for method, keys in writes.items():
        if method not in shapes:
            continue  # a placeholder provenance (a plan's or a revived drop's)
        extra = keys - set(Provenance.model_fields) - set(shapes[method].model_fields)
        assert not extra, f"{method} writes {extra}, which {shapes[method].__name__} lacks"


def test_a_cut_answer_is_found_under_a_later_verdict():
    from tane.curate.steps.truncated import output_finish_reason

    answered = Provenance(method="self_instruct").with_step(
        AnswerStep(stage="answer", finish_reason="length"))
    judged = answered.with_step(JudgeStep(stage="judge", status="ok", quality=4,
                                          finish_reason="stop"))
    assert output_finish_reason(judged) == "length"  # the verdict wrote no output
    grid = Provenance(method="grid", finish_reason="length")
    assert output_finish_reason(grid) == "length"  # the generator's own call
