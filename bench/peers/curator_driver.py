"""bespokelabs-curator: the requests through ``curator.LLM`` (openai backend), one pass.

Run by bench/saturation.py with bench/.peers/curator's Python; see common.py for the
arguments. Offline settings (from the bench's environment): TIKTOKEN_CACHE_DIR at the
tokenizer files litellm ships, CURATOR_DISABLE_CACHE=1, TELEMETRY_ENABLED=false.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def body(a, rows):
    if a.work:
        os.environ.setdefault("CURATOR_CACHE_DIR", str(a.work / "curator-cache"))
    from bespokelabs import curator

    class Answer(curator.LLM):
        def prompt(self, row):
            return [{"role": "user", "content": row["content"]}]

        def parse(self, row, response):
            return {"id": row["id"], "output": response}

    llm = Answer(
        model_name="sim", backend="openai",
        generation_params={"temperature": common.TEMPERATURE, "top_p": common.TOP_P,
                           "max_tokens": common.MAX_TOKENS},
        backend_params={"base_url": a.url, "api_key": "sim",
                        "max_concurrent_requests": a.concurrency,
                        "max_requests_per_minute": 10_000_000,
                        "max_tokens_per_minute": 10_000_000_000,
                        "max_retries": 1, "require_all_responses": False})
    out = llm([{"id": r["id"], "content": r["content"]} for r in rows])
    ds = getattr(out, "dataset", out)
    n = len(ds)
    return n, len(rows) - n


if __name__ == "__main__":
    common.run(body)
