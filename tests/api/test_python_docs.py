"""Every ```python example of docs/python.md, run in order as a reader runs them, and
what the page says of their results."""

from __future__ import annotations

import itertools
import json

import pytest
from docblocks import DOC, blocks, run_blocks


def test_the_page_has_its_examples():
    found = blocks()
    assert len(found) >= 15
    assert sum(b.slow for b in found) == 1, "one block runs the embedded model"
    assert found[-1].slow, "the embedded-model block comes last: nothing depends on it"


def test_every_example_runs_and_does_what_the_page_says(tmp_path, monkeypatch, capsys):
    datasets = pytest.importorskip("datasets")
    monkeypatch.chdir(tmp_path)
    ns = run_blocks(slow=False)
    printed = capsys.readouterr().out

    # the recipe round trip and the two ways an invalid recipe is refused
    assert (tmp_path / "clean.yaml").exists()
    assert "the first stage must generate" in printed
    assert "broken.yaml:4: field 'stages.0.tempreature': unknown key" in printed

    # the run: 6 rows in, 3 kept, each drop with its reason, files where it says
    result = ns["result"]
    assert result.kept == 3 and result.complete and result.shortfall is None
    assert result.stats["stages"]["curate"]["dropped"] == {
        "exact_dup": 1, "length:instruction_too_short": 1, "repetition:ngram": 1}
    assert result.dataset_path.resolve() == tmp_path / "runs/clean/dataset.jsonl"
    assert ns["counts"][-1] == 3
    assert "field 'source.path': file not found" in printed

    # from inside a running loop (a notebook cell) and from async code: the same run
    for out in ("runs/clean-nb", "runs/clean-async"):
        again = json.loads((tmp_path / out / "stats.json").read_text(encoding="utf-8"))
        assert again["kept"] == 3
        assert ((tmp_path / out / "dataset.jsonl").read_bytes()
                == (tmp_path / "runs/clean/dataset.jsonl").read_bytes())

    # load and the real datasets.Dataset
    records = ns["records"]
    assert len(records) == 3 and len(records.dropped) == 3
    assert [r["id"] for r in records] == ["row-1", "row-4", "row-5"]
    ds = ns["ds"]
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == 3
    assert ds["instruction"] == [r["instruction"] for r in records]
    assert ds[0]["provenance"]["method"] == "source"
    drops = ns["drops"]
    assert drops.num_rows == 3 and drops["reason"] == [d["reason"] for d in records.dropped]
    assert drops[0]["detail"]["duplicate_of"] == "row-1"  # a struct: its types agree

    # curate / dedup in memory and on files
    assert ns["res"].tokenizer.startswith("auto:")
    assert (tmp_path / "curated.jsonl").exists() and (tmp_path / "deduped.jsonl").exists()
    assert ns["best"].kept[0]["output"] == "東京です。"
    assert "<rows>:2: expected a dict, got str" in printed

    # export
    report = ns["report"]
    assert report.counts == {"train": 3}
    lines = (tmp_path / "export/train.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["messages"][0]["role"] == "user"
    assert (tmp_path / "export/README.md").exists()


@pytest.mark.slow
def test_every_example_runs_with_the_embedded_model_too(tmp_path, monkeypatch):
    pytest.importorskip("xllamacpp")
    monkeypatch.chdir(tmp_path)
    ns = run_blocks(slow=True)
    result, seen = ns["tiny_result"], ns["seen"]
    assert result.kept == 2 and result.complete
    assert len(tane_load_rows(tmp_path / "runs/tiny")) == 2

    # the callback saw the run grow: counts never go down, and it saw the run working
    assert seen and seen[-1].done and not any(p.done for p in seen[:-1])
    stage = [p.stages[0] for p in seen]
    for a, b in itertools.pairwise(stage[:-1]):  # the last: after the cut at the target
        assert b.calls >= a.calls and b.records_in >= a.records_in and b.kept >= a.kept
    working = [s for s in stage[:-1] if 0 < s.calls]
    assert working, f"no snapshot while calls were made ({len(seen)} snapshots)"
    assert any(s.calls < stage[-1].calls for s in working)
    assert stage[-1].calls == result.stats["stages"]["self_instruct"]["llm_calls"]
    assert seen[-1].kept == result.kept
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)


def tane_load_rows(path):
    return [json.loads(x) for x in (path / "dataset.jsonl").read_text(encoding="utf-8")
            .splitlines() if x]


def test_the_doc_helper_reports_the_docs_own_line_numbers(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("# t\n\n```python\nx = 1\n```\n\ntext\n\n```python\nraise ValueError(x)\n```\n",
                   encoding="utf-8")
    with pytest.raises(ValueError) as e:
        run_blocks(slow=False, doc=doc)
    tb = e.traceback[-1]
    assert tb.path == doc and tb.lineno + 1 == 10
    assert DOC.name == "python.md"
