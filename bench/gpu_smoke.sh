#!/usr/bin/env bash
# GPU smoke test of tane's in-process vLLM backend (backend: vllm). Needs one CUDA GPU,
# network access to PyPI and the Hugging Face Hub (or MODEL as a local path), ~10 minutes.
#
#   bash bench/gpu_smoke.sh                 # Qwen/Qwen2.5-0.5B-Instruct, 1000 prompts
#   MODEL=/models/qwen N=2000 bash bench/gpu_smoke.sh
#
# 1. installs tane with the gpu extra (the pinned vLLM) into $VENV (default .venv-gpu);
# 2. writes N prompts (bundled ja/en seed instructions) as JSONL and as ShareGPT JSON;
# 3. vLLM's own offline benchmark on them: vllm bench throughput (sharegpt dataset,
#    fixed output length, ignore_eos, temperature 1);
# 4. tane's backend on the same prompts with the same sampling, every call awaited at
#    once through its batching; prints both and the ratio (target >= 0.9x);
# 5. the judge rubric with its verdict JSON schema as structured output (and without,
#    for comparison): verdicts parsed;
# 6. the vLLM tests of tests/llm/test_vllm.py, the GPU one included.
# Figures and logs land in $OUT (default bench/results/gpu_smoke-DATE).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}
N=${N:-1000}
OUTPUT_LEN=${OUTPUT_LEN:-256}
MAX_MODEL_LEN=${MAX_MODEL_LEN:-2048}
VENV=${VENV:-.venv-gpu}
OUT=${OUT:-bench/results/gpu_smoke-$(date -u +%Y-%m-%d-%H%M)}
mkdir -p "$OUT"
log() { echo "[gpu_smoke $(date -u +%H:%M:%S)] $*"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "no GPU"; exit 2; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
log "installing tane[gpu,dev] (vLLM pinned in pyproject.toml)"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q -e '.[gpu,dev]' 2>&1 | tail -3
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee "$OUT/versions.txt"

log "prompts"
"$PY" bench/gpu_smoke.py prompts "$OUT" --n "$N"

log "vllm bench throughput ($MODEL, $N prompts, $OUTPUT_LEN output tokens)"
timeout 300 "$VENV/bin/vllm" bench throughput --model "$MODEL" --backend vllm \
  --dataset-name sharegpt --dataset-path "$OUT/prompts.json" --num-prompts "$N" \
  --output-len "$OUTPUT_LEN" --max-model-len "$MAX_MODEL_LEN" \
  --output-json "$OUT/vllm.json" > "$OUT/vllm_bench.log" 2>&1 \
  || { tail -20 "$OUT/vllm_bench.log"; exit 1; }
grep -E "^Throughput" "$OUT/vllm_bench.log" || true

log "tane's vllm backend on the same prompts"
timeout 300 "$PY" bench/gpu_smoke.py throughput "$OUT" --model "$MODEL" \
  --output-len "$OUTPUT_LEN" --max-model-len "$MAX_MODEL_LEN" 2>"$OUT/tane_bench.log"

log "judge with guided decoding"
timeout 240 "$PY" bench/gpu_smoke.py judge "$OUT" --model "$MODEL" --n 64 \
  --max-model-len "$MAX_MODEL_LEN" 2>"$OUT/judge.log"

log "tests/llm/test_vllm.py (GPU test included)"
TANE_VLLM_MODEL="$MODEL" timeout 300 "$PY" -m pytest -q -p no:hypothesispytest \
  tests/llm/test_vllm.py 2>&1 | tail -3 | tee "$OUT/pytest.txt"

log "figures"
"$PY" bench/gpu_smoke.py compare "$OUT" | tee "$OUT/summary.txt"
