"""The server's in-memory log (what stands per record and reviewer, the next record of a
queue) against the same answers worked out from the whole log read back, after random
drafts, submissions, skips and undos of two reviewers, and after another process writes
to the log."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from reviewrun import make_run  # noqa: E402

from tane.review.web import store  # noqa: E402
from tane.review.web.questions import load  # noqa: E402
from tane.review.web.service import Review  # noqa: E402


def _next_from_log(review: Review, reviewer: str, after: str | None) -> str | None:
    """The next record as the whole log says (the definition the server must keep)."""
    eff = store.effective(store.entries(review.db))
    mine = {rid: e for (rid, who), e in eff.items() if who == reviewer}
    q = review.queues[reviewer]
    start = review.position[reviewer].get(after, -1) + 1 if after else 0
    order = q[start:] + q[:start]
    for rid in order:
        if mine.get(rid) is None or mine[rid].kind == "draft":
            return rid
    return next((rid for rid in order if mine[rid].kind == "skip"), None)


@pytest.mark.parametrize("seed", range(3))
def test_what_stands_and_the_next_record_match_the_whole_log(tmp_path: Path,
                                                             seed: int) -> None:
    outputs = [f"答え{i}" for i in range(12)]
    run = make_run(tmp_path / "run", outputs, [1 + i % 5 for i in range(12)])
    review = Review(run, ["alice", "bob"], 2, load(None))
    rnd = random.Random(seed)
    for step in range(70):
        who = rnd.choice(["alice", "bob"])
        after = rnd.choice([None, *review.queues[who]])
        assert review.next_id(who, after) == _next_from_log(review, who, after), step
        op = rnd.random()
        if op < 0.1:
            review.undo(who)
            continue
        rid = rnd.choice(review.queues[who]) if op < 0.3 else review.next_id(who, after)
        if rid is None:
            continue
        kind = rnd.choice(["submit", "submit", "skip", "draft"])
        answers = {"decision": "keep", "quality": str(rnd.randint(1, 5))}
        if op > 0.95:  # another process (a second server, a script) writes to the log
            with review.db:
                store.append(review.db, rid, who, kind, review.by_id[rid].current,
                             review.by_id[rid].current, answers)
        else:
            review.save(who, rid, kind, review.by_id[rid].current, answers, "",
                        review.version(rid))
    eff = store.effective(store.entries(review.db))
    for who in ("alice", "bob"):
        assert review.mine(who) == {rid: e for (rid, w), e in eff.items() if w == who}
        assert review.next_id(who) == _next_from_log(review, who, None)
    for rid in review.by_id:
        subs, _ = review.submissions(rid)
        assert sorted(e.seq for e in subs) == sorted(
            e.seq for (r, _), e in eff.items() if r == rid and e.kind == "submit")


def test_the_text_index_finds_what_a_substring_match_finds() -> None:
    from tane.review.web.find import TextIndex
    from tane.review.web.records import Item

    rnd = random.Random(7)
    chars = "東京大阪都はでですA a\n"
    items = [Item(f"r{i}", {}, {"instruction": "".join(rnd.choice(chars) for _ in
                                                        range(rnd.randint(0, 12))),
                                "input": "", "output": rnd.choice(["", "京", "Ａ東"])}, "")
             for i in range(300)]
    index = TextIndex(items)
    queries = ["東", "京都", "阪東", "a", "A\n", "東京大", "ｘ", "す\n\n", "京都"]
    for q in queries:
        want = [i for i, it in enumerate(items)
                if q.casefold() in "\n".join(it.current.values()).casefold()]
        assert index.matching(q) == want, q
    # no match across two records: the last character of one and the first of the next
    pair = [Item("a", {}, {"instruction": "東", "input": "", "output": "X"}, ""),
            Item("b", {}, {"instruction": "Y", "input": "", "output": "京"}, "")]
    assert TextIndex(pair).matching("xy") == [] and TextIndex(pair).matching("京") == [1]
