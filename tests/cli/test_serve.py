"""``tane serve``: the embedded model behind llama.cpp's OpenAI-compatible HTTP server, as
the tests' ``llama_server`` fixture starts it. A real server on 127.0.0.1 (port 0: a free
one), the line it prints, the model it lists, one chat call, and Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

import httpx
import pytest

from typer.testing import CliRunner

from helpers import ROOT, tane_cmd
from tane.cli import app

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.mark.slow
def test_serve_answers_a_chat_call_and_stops_on_ctrl_c():
    pytest.importorskip("xllamacpp")
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "TANE_THREADS": "1"}
    proc = subprocess.Popen(tane_cmd("serve", "--model", "smollm2-135m", "--port", "0",
                                     "--slots", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "no line within 120 s"
        line = proc.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:(\d+)/v1)", line)
        assert m and int(m.group(2)) > 0, (line, proc.stderr.read() if proc.poll() else "")
        url = m.group(1)
        assert f"--llm {url},model={SMOLLM2}" in line, line
        listed = httpx.get(f"{url}/models", timeout=30).json()
        assert [d["id"] for d in listed["data"]] == [SMOLLM2]
        started = time.monotonic()
        r = httpx.post(f"{url}/chat/completions", timeout=120, json={
            "model": SMOLLM2, "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["choices"][0]["message"]["content"].strip(), body
        assert body["usage"]["completion_tokens"] > 0
        assert time.monotonic() - started < 60
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()


def test_serve_refuses_an_unknown_model_and_a_bad_slot_count():
    res = CliRunner().invoke(app, ["serve", "--model", "llama-70b", "--port", "0"])
    assert res.exit_code == 2, res.output
    assert "gemma3-270m" in res.output and "smollm2-135m" in res.output, res.output
    assert res.output.strip().count("\n") == 0, res.output  # one line
    res = CliRunner().invoke(app, ["serve", "--slots", "0", "--port", "0"])
    assert res.exit_code == 2 and "--slots" in res.output, res.output
