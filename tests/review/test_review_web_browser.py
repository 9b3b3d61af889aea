"""tane review serve in a real browser (Debian's Chromium driven by Playwright, nothing
downloaded): two reviewers by their links, keyboard only, an edit, a drop and ratings
that disagree; the character diff on screen; the admin's agreement figures against
values computed by hand; adjudication; dataset.jsonl changed as decided.

Screenshots of the main views are kept under $TANE_TEST_ARTIFACTS (else tmp_path)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import tane_cmd
from reviewrun import dataset, make_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is not installed (apt-get install "
                              "chromium; .ci/run does it best effort)"),
]


@pytest.fixture
def server(tmp_path: Path):
    pytest.importorskip("starlette")
    run = make_run(tmp_path / "run")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
                        "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
    proc = subprocess.Popen(tane_cmd("review", "serve", str(run), "--port", "0",
                                     "--reviewers", "alice,bob", "--overlap", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    links: dict[str, str] = {}
    try:
        for line in proc.stdout:
            m = re.match(r"(\w+): (http://127\.0\.0\.1:\d+/login#\S+)", line)
            if m:
                links[m.group(1)] = m.group(2)
            if line.startswith("serving "):
                break
        assert set(links) == {"alice", "bob", "admin"}, proc.stderr.read()
        yield run, links, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = proc.stderr.read() + proc.stdout.read()  # the server's log after the links
    assert links and not any(url.split("#")[1] in log for url in links.values())


def _go(page, key: str) -> None:
    """Press a key that submits or moves, and wait for the next page."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _keys(page, steps: list[str]) -> None:
    for step in steps:
        if step.startswith("type:"):  # in the text box the previous key focused
            page.keyboard.press("Control+a")
            page.keyboard.type(step[5:])
        elif step in ("w", "Control+Enter"):
            _go(page, step)
        else:
            page.keyboard.press(step)


def _current(page) -> str:
    return page.locator("#record-id").inner_text().split()[0]


def _review(page, plan: dict[str, list[str]], stop: str | None = None) -> None:
    """Work through the queue by keys only (plan[record id]: the keys to press) until
    the queue is done, or up to record ``stop``."""
    for _ in range(len(plan) + 1):
        if page.locator("#done").count() or _current(page) == stop:
            return
        _keys(page, plan[_current(page)])
    pytest.fail("the queue did not end")


@pytest.mark.slow  # several seconds: subprocess runs or a large input
def test_two_reviewers_keyboard_only_then_adjudication(server, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    run, links, _ = server
    shots = Path(os.environ.get("TANE_TEST_ARTIFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    before = dataset(run)
    # decisions: alice keep, edit, keep, drop; bob keep, edit, drop, drop
    # quality:   alice 5, 2, 4, 1;          bob 4, 2, 2, 1
    alice = {"r0": ["k", "5", "y", "Control+Enter"],
             "r1": ["e", "type:東京です。", "Escape", "2", "w", "Control+Enter"],
             "r2": ["k", "4", "Control+Enter"], "r3": ["d", "1", "Control+Enter"]}
    bob = {"r0": ["k", "4", "Control+Enter"],
           "r1": ["e", "type:東京です。", "Escape", "2", "Control+Enter"],
           "r2": ["d", "2", "Control+Enter"], "r3": ["d", "1", "Control+Enter"]}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            pages = {}
            for who in ("alice", "bob", "admin"):
                ctx = browser.new_context(viewport={"width": 1200, "height": 900})
                pages[who] = ctx.new_page()
                pages[who].goto(links[who])
                pages[who].wait_for_load_state()
            a = pages["alice"]
            dialogs: list[str] = []
            for pg in pages.values():
                pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            assert a.locator("#user").inner_text() == "alice"
            _review(a, alice, stop="r1")
            _keys(a, alice["r1"][:-1])  # edit, rate, save a draft: the diff on screen
            diff = a.locator('#diff .diff[data-field="output"]')
            assert diff.locator("del").inner_text() == "大阪"
            assert diff.locator("ins").inner_text() == "東京"
            a.screenshot(path=str(shots / "review-record.png"), full_page=True)
            _go(a, "Control+Enter")
            _review(a, alice)
            assert a.locator("#done").count() == 1
            _review(pages["bob"], bob)
            assert pages["bob"].locator("#done").count() == 1
            # admin: agreement figures against values computed by hand
            adm = pages["admin"]
            adm.reload()
            row = adm.locator('#agreement tr[data-question="decision"]')
            # decision: po = 3/4; pe = (2*1 + 1*1 + 1*2) / 16 = 5/16; kappa = 7/11
            assert row.locator(".percent").inner_text() == "0.750"
            assert row.locator(".cohen").inner_text() == f"{7 / 11:.3f}"
            qa, qb = [5, 2, 4, 1], [4, 2, 2, 1]
            do = sum(((x - y) / 4) ** 2 for x, y in zip(qa, qb)) / 4
            de = sum(((x - y) / 4) ** 2 for x in qa for y in qb) / 16
            row = adm.locator('#agreement tr[data-question="quality"]')
            assert row.locator(".cohen").inner_text() == f"{1 - do / de:.3f} (quadratic)"
            assert row.locator(".percent").inner_text() == "0.500"
            assert "r2" in adm.locator("#disagree").inner_text()
            adm.screenshot(path=str(shots / "review-admin.png"), full_page=True)
            # adjudicate r2 by keys: drop, Ctrl+Enter
            with adm.expect_navigation():
                adm.locator('#disagree a', has_text="r2").click()
            assert adm.locator('.sub[data-reviewer="bob"] .answers').inner_text().startswith(
                "decision: drop")
            adm.screenshot(path=str(shots / "review-adjudicate.png"), full_page=True)
            adm.keyboard.press("d")
            _go(adm, "Control+Enter")
            assert "applied as revisions" in adm.locator("#message").inner_text()
            # the hostile record: its tags are text in the box, and no script ran
            page = pages["bob"]
            page.goto(links["bob"].split("/login")[0] + "/r/r3")
            assert "<script>alert(1)</script>" in page.locator("#f-output").input_value()
            assert page.locator("script:not([src])").count() == 0 and dialogs == []
        finally:
            browser.close()
    after = dataset(run)
    assert set(before) == {"r0", "r1", "r2", "r3"}
    assert set(after) == {"r0", "r1"}  # r2 dropped by the adjudicator, r3 by both
    assert after["r1"]["output"] == "東京です。" and before["r1"]["output"] == "大阪です。"
    assert after["r1"]["provenance"]["human_review"]["source"] == "web review: alice, bob"
    for name in ("review-record.png", "review-admin.png", "review-adjudicate.png"):
        assert (shots / name).stat().st_size > 10_000
