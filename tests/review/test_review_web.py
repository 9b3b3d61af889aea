"""tane review serve at the framework level (Starlette's test client) on a run directory
written by hand (no model): tokens, cross-site POSTs, hostile text, concurrent edits,
undo, bad forms, the read-only banner, adjudication into dataset.jsonl, and a stale
Excel file against web decisions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from reviewrun import HOSTILE, dataset, make_run  # noqa: E402
from tane.errors import TaneError  # noqa: E402
from tane.review import export_review, import_review, read_table  # noqa: E402
from tane.review.web.app import create_app  # noqa: E402
from tane.review.web.forms import MAX_BODY  # noqa: E402
from tane.review.web.store import entries, open_db  # noqa: E402
from tane.store.revisions import apply_revisions, machine_output  # noqa: E402
from tane.store.rundir import RunDir  # noqa: E402

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def served(run: Path):
    app, tokens, review = create_app(run, ["alice", "bob"], 2)
    return app, tokens, review


def client(app, token: str | None) -> TestClient:
    c = TestClient(app, base_url=BASE)
    if token:
        r = c.post("/login", data={"token": token})
        assert r.status_code == 200, r.text
    return c


def form_of(html: str) -> dict[str, str]:
    """The hidden fields and text areas of the record form, as the browser would send."""
    out = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    for name, text in re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>', html, re.S):
        out[name] = (text.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"')
                     .replace("&#39;", "'").replace("&amp;", "&"))
    return out


def log(run: Path) -> list:
    db = open_db(run)
    try:
        return entries(db)
    finally:
        db.close()


def submit(c: TestClient, rid: str, page: str | None = None, **fields: str):
    html = page if page is not None else c.get(f"/r/{rid}").text
    data = form_of(html) | {"action": "submit"} | fields
    return c.post(f"/r/{rid}", data=data, follow_redirects=False)


def test_tokens_are_hashed_and_required(run: Path, served) -> None:
    app, tokens, _ = served
    anon = client(app, None)
    assert anon.get("/next").status_code == 401
    r = anon.post("/login", data={"token": "not-a-token"})
    assert r.status_code == 401 and "not-a-token" not in r.text  # no error page echoes it
    assert anon.get("/admin").status_code == 401
    alice = client(app, tokens["alice"])
    assert alice.get("/admin").status_code == 403  # a reviewer's link is no admin link
    assert client(app, tokens["admin"]).get("/admin").status_code == 200
    raw = b"".join(p.read_bytes() for p in run.iterdir() if p.is_file())
    for tok in tokens.values():
        assert tok.encode() not in raw
    db = open_db(run)
    stored = {n: h for n, h in db.execute("SELECT name, token_sha256 FROM review_reviewers")}
    db.close()
    assert set(stored) == {"alice", "bob", "admin"} and all(len(h) == 64 for h in
                                                            stored.values())
    # a restart issues new tokens: the old links stop working
    app2, tokens2, _ = create_app(run, ["alice", "bob"], 2)
    assert client(app2, None).post("/login", data={"token": tokens["alice"]}
                                   ).status_code == 401
    assert tokens2["alice"] != tokens["alice"]


def test_cross_site_posts_are_refused_and_store_nothing(run: Path, served) -> None:
    app, tokens, _ = served
    c = client(app, tokens["alice"])
    page = c.get("/r/r0").text
    data = form_of(page) | {"action": "submit", "q_decision": "keep"}
    r = c.post("/r/r0", data=data, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-site" in r.text
    r = c.post("/r/r0", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = c.post("/r/r0", data=data | {"csrf": "0" * 64})
    assert r.status_code == 403
    other = client(app, tokens["bob"])  # bob's form token is no good for alice's session
    r = c.post("/r/r0", data=data | {"csrf": form_of(other.get("/r/r0").text)["csrf"]})
    assert r.status_code == 403
    assert log(run) == []
    assert c.post("/r/r0", data=data, headers={"Origin": BASE}, follow_redirects=False
                  ).status_code == 303
    assert [e.kind for e in log(run)] == ["submit"]


def test_hostile_text_renders_as_text_everywhere(run: Path, served) -> None:
    app, tokens, _ = served
    alice, admin = client(app, tokens["alice"]), client(app, tokens["admin"])
    page = alice.get("/r/r3").text
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # an edit adding more hostile text: the diff shows it as text too
    r = submit(alice, "r3", q_decision="edit", output=HOSTILE + "<img src=x onerror=alert(3)>")
    assert r.status_code == 303
    page = alice.get("/r/r3").text
    assert 'id="diff"' in page and "<ins>&lt;img src=x onerror=alert(3)&gt;</ins>" in page
    adj = admin.get("/admin/r/r3").text
    assert "<img src=x" not in adj and "<script>alert" not in adj
    assert "&lt;img src=x onerror=alert(3)&gt;" in adj
    assert "script-src 'self'" in alice.get("/r/r3").headers["content-security-policy"]


def test_a_long_cell_and_markdown_render_as_text(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", ["[x](javascript:alert(1)) " + "長" * 20000],
                   [3])
    app, tokens, _ = create_app(run, ["alice"], 1)
    page = client(app, tokens["alice"]).get("/r/r0").text
    assert "長" * 20000 in page and '<a href="javascript' not in page


def test_concurrent_edits_keep_both_or_refuse_with_the_newer_text(run: Path, served) -> None:
    app, tokens, _ = served
    alice, bob = client(app, tokens["alice"]), client(app, tokens["bob"])
    pa, pb = alice.get("/r/r1").text, bob.get("/r/r1").text  # both open the same version
    assert submit(alice, "r1", pa, q_decision="edit", output="大阪ではなく東京です。"
                  ).status_code == 303
    r = submit(bob, "r1", pb, q_decision="edit", output="東京。")
    assert r.status_code == 409
    assert "alice submitted another edit" in r.text and "大阪ではなく東京です。" in r.text
    assert [(e.reviewer, e.after["output"]) for e in log(run)] == [
        ("alice", "大阪ではなく東京です。")]
    # the refusal's page carries the new version: bob can resubmit on top of it
    assert submit(bob, "r1", r.text, q_decision="edit", output="東京。").status_code == 303
    # ratings without an edit from the same old version: both stored
    pa, pb = alice.get("/r/r0").text, bob.get("/r/r0").text
    assert submit(alice, "r0", pa, q_decision="keep", q_quality="5").status_code == 303
    assert submit(bob, "r0", pb, q_decision="keep", q_quality="4").status_code == 303
    assert sorted((e.reviewer, e.answers.get("quality")) for e in log(run)
                  if e.record_id == "r0") == [("alice", "5"), ("bob", "4")]


def test_undo_takes_back_the_last_submission(run: Path, served) -> None:
    app, tokens, review = served
    alice = client(app, tokens["alice"])
    first = review.queues["alice"][0]
    assert alice.get("/next").url.path == f"/r/{first}"
    r = submit(alice, first, q_decision="drop")
    assert r.headers["location"] != f"/r/{first}"
    assert alice.get("/next").url.path != f"/r/{first}"  # next skips what is submitted
    page = alice.get("/r/" + first).text
    r = alice.post("/undo", data={"csrf": form_of(page)["csrf"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/r/{first}"
    assert alice.get("/next").url.path == f"/r/{first}"
    kinds = [(e.kind, e.undoes) for e in log(run)]
    assert kinds[0][0] == "submit" and kinds[1] == ("undo", 1)  # appended, never deleted
    assert review.mine("alice") == {}


@pytest.mark.parametrize("change,status", [
    ({"surprise": "1"}, 400),                  # unknown field
    ({"output": None}, 400),                   # missing field
    ({"q_quality": "9"}, 400),                 # not an answer
    ({"output": "x" * 32_001}, 413),           # a cell over the limit
    ({"note": "y" * (MAX_BODY + 1)}, 413),     # the whole form over the limit
])
def test_bad_forms_get_4xx_and_store_nothing(run: Path, served, change, status) -> None:
    app, tokens, _ = served
    alice = client(app, tokens["alice"])
    data = form_of(alice.get("/r/r0").text) | {"action": "submit", "q_decision": "keep"}
    data |= change
    data = {k: v for k, v in data.items() if v is not None}
    r = alice.post("/r/r0", data=data)
    assert r.status_code == status, r.text
    assert log(run) == []


def test_a_run_holding_the_directory_makes_it_read_only(run: Path, served) -> None:
    app, tokens, _ = served
    alice = client(app, tokens["alice"])
    assert 'id="readonly"' not in alice.get("/r/r0").text
    holder = RunDir(run, lock=True)  # what `tane run` holds from its start to its end
    try:
        page = alice.get("/r/r0").text
        assert 'id="readonly"' in page
        r = submit(alice, "r0", page, q_decision="keep")
        assert r.status_code == 423 and "read-only" in r.text
    finally:
        holder.close()
    assert log(run) == []


def _review_two(app, tokens) -> None:
    """alice and bob: r0 both keep; r1 both edit alike; r2 keep vs drop (a tie)."""
    alice, bob = client(app, tokens["alice"]), client(app, tokens["bob"])
    for c, q in ((alice, "5"), (bob, "4")):
        assert submit(c, "r0", q_decision="keep", q_quality=q).status_code == 303
        assert submit(c, "r1", q_decision="edit", output="東京です。").status_code == 303
    assert submit(alice, "r2", q_decision="keep").status_code == 303
    assert submit(bob, "r2", q_decision="drop", note="違う").status_code == 303


def test_adjudication_rebuilds_the_dataset_as_import_does(run: Path, served) -> None:
    app, tokens, review = served
    _review_two(app, tokens)
    admin = client(app, tokens["admin"])
    page = admin.get("/admin").text
    assert "r2</a> · <b>needs adjudication</b>" in page
    r = admin.post("/admin/apply", data={"csrf": form_of(page)["csrf"]},
                   follow_redirects=False)
    assert r.status_code == 303
    ds = dataset(run)
    assert ds["r1"]["output"] == "東京です。" and ds["r1"]["provenance"]["human_review"][
        "source"] == "web review: alice, bob"
    assert "human_review" not in ds["r2"]["provenance"]  # the tie waits
    adj = admin.get("/admin/r/r2").text
    data = form_of(adj) | {"q_decision": "drop", "note": "重複"}
    assert admin.post("/admin/r/r2", data=data, follow_redirects=False).status_code == 303
    ds = dataset(run)
    assert set(ds) == {"r0", "r1", "r3"}
    records, drops = machine_output(run)
    rd = RunDir(run)
    latest = rd.latest_revisions()
    rd.close()
    want, want_drops = apply_revisions(records, drops, latest)
    assert (run / "dataset.jsonl").read_text(encoding="utf-8") == "".join(
        json.dumps(r, ensure_ascii=False) + "\n" for r in want)
    rej = [json.loads(x) for x in (run / "rejected.jsonl").read_text().splitlines()]
    assert rej == json.loads(json.dumps(want_drops, ensure_ascii=False))
    assert rej[-1]["detail"]["record"]["provenance"]["human_review"]["source"] == \
        "web review: alice, bob; adjudicated by admin"
    assert json.loads((run / "stats.json").read_text())["dataset_records"] == 3
    # applying again adds nothing
    assert review.apply().added == 0


def test_a_stale_excel_file_names_the_web_review_it_would_undo(run: Path, served,
                                                               tmp_path: Path) -> None:
    app, tokens, review = served
    xlsx = tmp_path / "review.xlsx"
    export_review(run, xlsx)
    _review_two(app, tokens)
    review.apply()
    from openpyxl import load_workbook

    wb = load_workbook(xlsx)
    ws = wb["review"]
    head = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        if row[head.index("id")].value == "r1":
            row[head.index("output")].value = "エクセルの答え"
    wb.save(xlsx)
    before = (run / "dataset.jsonl").read_bytes()
    with pytest.raises(TaneError, match=r"stale review file.*web review: alice, bob"):
        import_review(run, xlsx)
    assert (run / "dataset.jsonl").read_bytes() == before
    assert read_table(xlsx).run_id  # the file itself is untouched and still a review file


def test_a_web_decision_does_not_undo_a_later_excel_import(run: Path, served,
                                                           tmp_path: Path) -> None:
    app, tokens, review = served
    _review_two(app, tokens)  # submitted, not applied yet
    csv = tmp_path / "review.csv"
    export_review(run, csv)
    text = csv.read_text(encoding="utf-8-sig").replace("大阪です。", "表計算の答え")
    csv.write_text(text, encoding="utf-8-sig")
    import_review(run, csv)
    res = review.apply()
    assert any(c.startswith("r1: changed by review.csv") for c in res.conflicts)
    assert dataset(run)["r1"]["output"] == "表計算の答え"


def test_assignment_is_balanced_deterministic_and_walked_in_own_orders() -> None:
    from tane.review.web.assignment import assign

    ids = [f"x{i}" for i in range(300)]
    q = assign(ids, ["a", "b", "c"], 2)
    assert q == assign(ids, ["a", "b", "c"], 2)
    assert sorted(len(v) for v in q.values()) == [200, 200, 200]
    count = {i: sum(i in v for v in q.values()) for i in ids}
    assert set(count.values()) == {2}
    assert len({tuple(v) for v in q.values()}) == 3
    common = [i for i in q["a"] if i in set(q["b"])]
    assert common != [i for i in q["b"] if i in set(q["a"])]  # not the same sequence


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_serve_refuses_bad_options_in_one_line(run: Path, tmp_path: Path) -> None:
    from helpers import run_tane

    res = run_tane("review", "serve", str(run), "--reviewers", "alice,admin")
    assert res.returncode == 2 and "reviewers:" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_tane("review", "serve", str(run), "--reviewers", "alice", "--rule", "loudest")
    assert res.returncode == 2 and "--rule 'loudest'" in res.stderr
    q = tmp_path / "q.yaml"
    q.write_text("- name: tone\n  type: choice\n  options: [polite, rude]\n  keys: [k, r]\n",
                 encoding="utf-8")
    res = run_tane("review", "serve", str(run), "--reviewers", "alice", "--questions", str(q))
    assert res.returncode == 2 and "q.yaml" in res.stderr and "[0].keys" in res.stderr
    res = run_tane("review", "serve", str(tmp_path / "nope"), "--reviewers", "alice")
    assert res.returncode == 2 and "no dataset.jsonl" in res.stderr
    assert not (tmp_path / "nope").exists()


def test_questions_file_sets_the_questions_and_their_keys(run: Path, tmp_path: Path) -> None:
    from tane.review.web.questions import load

    q = tmp_path / "q.yaml"
    q.write_text("- name: tone\n  label: 丁寧さ\n  type: choice\n  options: [polite, rude]\n"
                 "  keys: [o, r]\n- name: accuracy\n  type: rating\n  min: 1\n  max: 3\n",
                 encoding="utf-8")
    app, tokens, _ = create_app(run, ["alice"], 1, load(q))
    alice = client(app, tokens["alice"])
    page = alice.get("/r/r0").text
    assert 'name="q_tone" value="rude" data-key="r"' in page and "丁寧さ" in page
    assert 'name="q_quality"' not in page
    assert submit(alice, "r0", page, q_decision="keep", q_tone="rude",
                  q_accuracy="3").status_code == 303
    assert alice.post("/r/r1", data=form_of(alice.get("/r/r1").text)
                      | {"action": "submit", "q_decision": "keep", "q_accuracy": "4"}
                      ).status_code == 400
    assert [e.answers for e in log(run)] == [{"decision": "keep", "tone": "rude",
                                             "accuracy": "3"}]


def test_a_human_keep_revives_a_machine_drop(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    judge_drop = {"stage": "judge", "record_id": "j9", "reason": "low_quality",
                  "detail": {"quality": 1, "reason": "短すぎる",
                             "record": {"output": "<i>はい</i>"}},
                  "text": "富士山の高さは？"}
    with open(run / "rejected.machine.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(judge_drop, ensure_ascii=False) + "\n")
    app, tokens, review = create_app(run, ["alice"], 1, include_dropped=True)
    assert "rejected:2" in review.queues["alice"]
    alice, admin = client(app, tokens["alice"]), client(app, tokens["admin"])
    page = alice.get("/r/rejected:2").text
    assert "low_quality" in page and "短すぎる" in page and "&lt;i&gt;はい&lt;/i&gt;" in page
    assert submit(alice, "rejected:2", page, q_decision="edit",
                  output="3776メートルです。").status_code == 303
    assert submit(alice, "rejected:1", q_decision="drop").status_code == 303
    figs = review.figures()["judge"]
    assert (figs["drops_reviewed"], figs["drops_kept"]) == (1, 1)
    assert "kept by the humans: <span id=\"drops-kept\">1" in admin.get("/admin").text
    review.apply()
    ds = dataset(run)
    assert ds["j9"]["output"] == "3776メートルです。"
    hr = ds["j9"]["provenance"]["human_review"]
    assert hr["revived"] == {"stage": "judge", "reason": "low_quality", "rejected_line": 2}
    assert hr["original"]["output"] == "<i>はい</i>" and hr["source"] == "web review: alice"
    rejected = [json.loads(x) for x in (run / "rejected.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in rejected] == ["rouge_similar"]  # the drop kept stays
    assert json.loads((run / "stats.json").read_text())["dataset_records"] == 5


def test_find_filters_and_one_or_two_character_japanese_search(run: Path, served) -> None:
    app, tokens, _ = served
    _review_two(app, tokens)
    admin = client(app, tokens["admin"])

    def ids(**params) -> list[str]:
        r = admin.get("/admin/find", params=params)
        assert r.status_code == 200, r.text
        return re.findall(r'<a href="/admin/r/([^"]+)">', r.text)

    assert ids(q="阪") == ["r1"]          # one character (FTS5 trigram finds nothing)
    assert ids(q="京都") == ["r2"]        # two characters
    assert ids(q="です。") == ["r0", "r1", "r2"]
    assert ids(q="SCRIPT") == ["r3"]      # case-folded
    assert ids(disagree="1") == ["r0", "r2"]
    assert ids(state="complete") == ["r0", "r1", "r2"]
    assert ids(state="unreviewed") == ["r3"]
    assert ids(score_min="3", score_max="4") == ["r2", "r3"]
    assert ids(method="self_instruct", reviewer="bob") == ["r0", "r1", "r2"]
    assert admin.get("/admin/find", params={"score_min": "x"}).status_code == 400
    assert admin.get("/admin/find", params={"sort": "x"}).status_code == 400
    assert client(app, tokens["alice"]).get("/admin/find").status_code == 403


@pytest.mark.slow  # several seconds: subprocess runs or a large input
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_answers_column_and_the_file_still_imports(run: Path, served, tmp_path: Path,
                                                          suffix: str) -> None:
    from helpers import run_tane

    app, tokens, review = served
    _review_two(app, tokens)
    out = tmp_path / f"review{suffix}"
    res = run_tane("review", "export", str(run), "-o", str(out), "--answers")
    assert res.returncode == 0, res.stderr
    table = read_table(out)
    assert "answers" in table.header
    col, idc = table.header.index("answers"), table.header.index("id")
    cells = {r[idc]: r[col] for _, r in table.rows}
    assert cells["r2"] == "alice: keep\nbob: drop (note: 違う)"
    assert cells["r0"] == "alice: keep, quality 5\nbob: keep, quality 4"
    assert not cells["r3"]
    res = run_tane("review", "import", str(run), str(out), "--dry-run")
    assert res.returncode == 0, res.stderr  # the extra column is read only, not refused
    plain = tmp_path / f"plain{suffix}"
    export_review(run, plain)
    assert "answers" not in read_table(plain).header


def test_a_submission_without_a_decision_is_refused_and_keeps_the_typed_text(
        run: Path, served) -> None:
    app, tokens, _ = served
    alice = client(app, tokens["alice"])
    r = submit(alice, "r0", output="書きかけの答え", q_quality="3")
    assert r.status_code == 400 and "choose keep, drop or edit" in r.text
    assert "書きかけの答え</textarea>" in r.text and 'value="3" checked' in r.text
    assert log(run) == []
    assert submit(alice, "r0", q_decision="keep", action="draft").status_code == 303
    assert submit(alice, "r0", action="draft").status_code == 303  # a draft needs none
    assert [e.kind for e in log(run)] == ["draft", "draft"]


def test_a_record_shows_its_turns_and_most_similar_item_as_text(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", ["こんにちは。"], [4])
    lines = (run / "dataset.machine.jsonl").read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[0])
    rec["provenance"] |= {"source": "qa.csv", "row": 7}
    rec["provenance"]["most_similar"] = [{"text": "日本の首都は<b>どこ</b>", "rouge_l": 0.61}]
    rec["provenance"]["messages"] = [
        {"role": "user", "content": "最初の質問"}, {"role": "assistant", "content": "答え"},
        {"role": "user", "content": "<script>alert(9)</script>次の質問"}]
    (run / "dataset.machine.jsonl").write_text(json.dumps(rec, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    app, tokens, _ = create_app(run, ["alice"], 1)
    page = client(app, tokens["alice"]).get("/r/r0").text
    turns = page[page.index('<ol class="turns">'):]
    assert "最初の質問" in turns and "&lt;script&gt;alert(9)&lt;/script&gt;次の質問" in turns
    assert "<b>assistant</b> 答え" in turns
    assert "ja-000 · qa.csv row 7" in page
    assert '<dd id="nearest">ROUGE-L 0.61 · 日本の首都は&lt;b&gt;どこ&lt;/b&gt;</dd>' in page


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_a_later_run_keeps_the_web_decisions_and_the_log(tmp_path: Path) -> None:
    from helpers import run_tane

    (tmp_path / "in.jsonl").write_text("".join(json.dumps(
        {"instruction": f"質問{i}です。", "output": f"答え{i}です。"}, ensure_ascii=False)
        + "\n" for i in range(3)), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: web\nsource: {path: in.jsonl}\nstages:\n  - method: curate\n"
                      "    lang: ja\n    steps: [{name: length}]\n", encoding="utf-8")
    run = tmp_path / "run"
    res = run_tane("run", str(recipe), "-o", str(run), "--no-progress")
    assert res.returncode == 0, res.stderr
    app, tokens, review = create_app(run, ["alice"], 1)
    ids = review.queues["alice"]
    alice = client(app, tokens["alice"])
    assert submit(alice, ids[0], q_decision="edit", output="直した答え").status_code == 303
    assert submit(alice, ids[1], q_decision="drop").status_code == 303
    assert review.apply().added == 2
    res = run_tane("run", str(recipe), "-o", str(run), "--no-progress")
    assert res.returncode == 0, res.stderr
    ds = dataset(run)
    assert ds[ids[0]]["output"] == "直した答え" and ids[1] not in ds and ids[2] in ds
    assert [e.kind for e in log(run)] == ["submit", "submit"]


def test_a_skipped_record_comes_back_after_the_rest(run: Path, served) -> None:
    app, tokens, review = served
    alice = client(app, tokens["alice"])
    q = review.queues["alice"]
    assert submit(alice, q[0], action="skip").headers["location"] == f"/next?after={q[0]}"
    for rid in q[1:]:
        assert alice.get("/next").url.path == f"/r/{rid}"
        assert submit(alice, rid, q_decision="keep").status_code == 303
    assert alice.get("/next").url.path == f"/r/{q[0]}"  # only the skipped one is left
    assert submit(alice, q[0], q_decision="drop").status_code == 303
    assert 'id="done"' in alice.get("/next").text
    assert review.figures()["progress"]["alice"] == {"assigned": 4, "submitted": 4,
                                                     "skipped": 0, "drafts": 0}
