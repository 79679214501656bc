#!/usr/bin/env bash
# Make the NVIDIA ModelOpt environment that quantizes the TensorRT INT8 graph (grace_edge/engine/quantize_modelopt.py
# runs grace_edge/engine/modelopt_worker.py in it). ModelOpt's [onnx] extra pins onnxruntime-gpu (it calibrates on its
# CPU provider here), cupy and torch, which would replace the main environment's onnxruntime: hence a venv of its own,
# without grace-edge. The requirement is setup.cfg's [modelopt] extra (tests/engine/test_quantize_modelopt.py checks).
# Measured on the development machine (2 cores, pip's local wheel folder): 113 s, 6.5 GB.
#   usage: bash .ci/modelopt_env.sh [ENV_DIR]   (default .venv-modelopt)
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir="${1:-.venv-modelopt}"
start=$(date +%s)
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install -q "nvidia-modelopt[onnx]==0.47.*"
"$env_dir/bin/python" -c "import modelopt, modelopt.onnx.quantization, onnx, numpy; print('modelopt', modelopt.__version__)"
echo "modelopt_env: $env_dir ready in $(( $(date +%s) - start )) s ($(du -sh "$env_dir" | cut -f1))"
