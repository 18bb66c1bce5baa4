#!/usr/bin/env bash
# The trainer's GPU figures in one short run: ietrainer.bench at gpu-r50, 224 px, batch 256 (data
# pipeline alone, compute alone, training loop; JPEG decoding on the GPU, then on CPU workers), the
# ONNX export of both presets checked against PyTorch, a --deterministic resume against an
# uninterrupted run, and ietrainer.embed over ~25,000 images. Prints one JSON object on stdout.
#
# Needs only this repository and a Python with torch, torchvision, Pillow, numpy and onnx: it makes
# its own photo-like JPEGs (no datasets folder, no network, no Node or database).
#
#   bash scripts/gpu-check.sh                          # on a GPU host, from the repository root
#   IE_PYTHON=/usr/bin/python3 bash scripts/gpu-check.sh --device cpu --quick   # try it on CPU
#
# Takes 3-5 minutes on one H200; stopped after GPU_CHECK_TIMEOUT seconds (default 540), each part
# skipped when it would not finish in time. With $OUT set, also writes $OUT/gpu-check.json. Other
# arguments go to python -m ietrainer.gpu_check (--budget SECONDS, --out FILE).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${IE_PYTHON:-python3}"
limit="${GPU_CHECK_TIMEOUT:-540}"
args=(--budget "$((limit - 60))")
if [[ -n "${OUT:-}" ]]; then
  args+=(--out "$OUT/gpu-check.json")
fi

cd "$root/trainer"
export PYTHONPATH="$root/trainer${PYTHONPATH:+:$PYTHONPATH}"
exec timeout --kill-after=15 "$limit" "$python" -m ietrainer.gpu_check "${args[@]}" "$@"
