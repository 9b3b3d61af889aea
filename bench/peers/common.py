"""What every peer driver shares: the request file and the one-line JSON report.

A driver is run by ``bench/saturation.py`` as
``DRIVER --url URL --requests FILE --concurrency C --out REPORT`` with its own venv's
Python. FILE holds one JSON object a line: ``{"id": ..., "content": ...}``; each becomes
one chat request whose only message is ``{"role": "user", "content": content}`` (the same
message tane's answer stage sends for that instruction). The driver writes
``{"ok": n, "failed": n, "wall_s": s, "error": str|null}`` to REPORT.
This module is loaded by path, so it must stay standard-library only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

TEMPERATURE, TOP_P, MAX_TOKENS = 0.3, 0.9, 512  # tane's answer stage defaults


def args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the server's /v1 URL")
    ap.add_argument("--requests", required=True, type=Path)
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--work", type=Path, default=None, help="a scratch directory")
    return ap.parse_args()


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run(body: Callable[[argparse.Namespace, list[dict[str, Any]]], tuple[int, int]]) -> None:
    a = args()
    rows = load(a.requests)
    t0 = time.perf_counter()
    ok = failed = 0
    error = None
    try:
        ok, failed = body(a, rows)
    except Exception as e:  # reported, not raised: the bench prints it as the row's reason
        error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
    wall = time.perf_counter() - t0
    a.out.write_text(json.dumps({"ok": ok, "failed": failed, "wall_s": wall, "error": error},
                                  ensure_ascii=False), encoding="utf-8")
