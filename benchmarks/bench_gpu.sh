#!/usr/bin/env bash
# Issue 19 §4, one script for a lent GPU (prepared; not run here: no GPU was lent to this work).
# Every model, full size, on the GPU: transform vs the raw forward in fp32 and in bf16 (autocast),
# then bf16 / fp32 forward throughput. Synthetic windows (the recordings are not on that machine),
# 64 windows of 19 x 4 s at 500 Hz, batch 32, 3 repeats: a few minutes on an H100 (ZUNA, 172 M,
# is the slowest). Goals: transform / raw >= 0.95; bf16 / fp32 >= 2 above 20 M parameters.
#
#     bash benchmarks/bench_gpu.sh [OUT_DIR]      # writes OUT_DIR/{fp32,bf16}.{txt,json}
set -euo pipefail
out=${1:-${OUT:-gpu_results}}
mkdir -p "$out"
common=(--device cuda --synthetic --n-windows 64 --batch-size 32 --repeats 3 --threads 4)
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python benchmarks/bench_transform.py "${common[@]}" --json "$out/fp32.json" | tee "$out/fp32.txt"
python benchmarks/bench_transform.py "${common[@]}" --precision bf16 --json "$out/bf16.json" | tee "$out/bf16.txt"
python - "$out" <<'PY'
import json, sys
out = sys.argv[1]
fp32, bf16 = (json.load(open(f"{out}/{p}.json")) for p in ("fp32", "bf16"))
print("\n| model | params (M) | transform / raw, fp32 | transform / raw, bf16 | bf16 / fp32 forward |")
print("|---|---|---|---|---|")
for m in fp32:
    a, b = fp32[m], bf16.get(m)
    speed = f"{b['forward_per_s'] / a['forward_per_s']:.2f}x" if b else "-"
    print(f"| {m} | {a['params_M']:.1f} | {a['ratio']:.3f}x | {b['ratio'] if b else float('nan'):.3f}x | {speed} |")
PY
