#!/usr/bin/env bash
# Reruns every benchmark this repo quotes, one after another (run on a quiet machine: they time things).
# Writes benchmarks/results/*.{json,md}. About 45 min on a 2-core CPU; the reduced-protocol training is separate
# (see benchmarks/README.md) because it takes 35+ minutes by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
NEU_DET="${GRACE_NEU_DET:-../shared/data/NEU-DET}"
DATA=benchmarks/runs/reduced/dataset/data.yaml
WEIGHTS="${WEIGHTS:-benchmarks/runs/grace-n-export/weights/best.pt}"

[ -f "$DATA" ] || grace-edge data neu-det --src "$NEU_DET" --out benchmarks/runs/reduced/dataset
if [ ! -f "$WEIGHTS" ]; then
  echo "no weights at $WEIGHTS: train them first (benchmarks/README.md, 'Weights')" >&2
  exit 1
fi
python benchmarks/train_throughput.py
python benchmarks/nms_parity.py --weights "$WEIGHTS" --data "$DATA"
python benchmarks/preprocess_parity.py --weights "$WEIGHTS" --data "$DATA"
python benchmarks/precision_accuracy.py --weights "$WEIGHTS" --data "$DATA" --variants fp32 fp16 int8-entropy int8-percentile
python benchmarks/cpu_runtime.py --weights "$WEIGHTS" --data "$DATA"
if [ -x .venv-modelopt/bin/python ]; then  # made by .ci/modelopt_env.sh
  GRACE_MODELOPT_ENV=.venv-modelopt python benchmarks/int8_layouts.py --weights "$WEIGHTS" --data "$DATA"
fi
if [ -x .venv-triton/bin/python ]; then  # made by .ci/triton_env.sh; the model needs torch, so it is made here
  [ -f benchmarks/runs/serve/grace-n-untrained.onnx ] || python benchmarks/serve_vs_embedded.py --make-model
  .venv-triton/bin/python benchmarks/serve_vs_embedded.py
fi
