"""NeMo Data Designer: the requests as one LLM text column over a seed file, one pass.

Run by bench/saturation.py with bench/.peers/data-designer's Python; see common.py for the
arguments. The column's prompt is ``{{ content }}``, so each request carries the same
single user message as the other clients.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def body(a, rows):
    import data_designer.config as dd
    from data_designer.interface import DataDesigner

    work = a.work or Path(tempfile.mkdtemp())
    seed = work / "dd-seed.jsonl"
    seed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    provider = dd.ModelProvider(name="sim", endpoint=a.url, provider_type="openai",
                                api_key="sim")
    model = dd.ModelConfig(
        alias="answer", model="sim", provider="sim", skip_health_check=True,
        inference_parameters=dd.ChatCompletionInferenceParams(
            temperature=common.TEMPERATURE, top_p=common.TOP_P, max_tokens=common.MAX_TOKENS,
            max_parallel_requests=a.concurrency))
    builder = dd.DataDesignerConfigBuilder(model_configs=[model])
    builder.with_seed_dataset(dd.LocalFileSeedSource(path=str(seed)))
    builder.add_column(dd.LLMTextColumnConfig(name="output", prompt="{{ content }}",
                                              model_alias="answer"))
    designer = DataDesigner(artifact_path=work / "dd-artifacts", model_providers=[provider])
    designer.set_run_config(dd.RunConfig(otel_metrics_port=None, disable_early_shutdown=True))
    result = designer.create(builder, num_records=len(rows), dataset_name="bench")
    df = result.load_dataset()
    ok = int(df["output"].notna().sum()) if "output" in df else 0
    return ok, len(rows) - ok


if __name__ == "__main__":
    common.run(body)
