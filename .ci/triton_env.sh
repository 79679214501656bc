#!/usr/bin/env bash
# Make the Python environment that runs a real Triton server on this CPU for the tests and benchmarks:
# grace-edge's lean runtime + the [triton] extra + nvidia-pytriton, whose wheel bundles tritonserver 2.51 with its
# python backend. That backend's stub needs numpy < 2 (with numpy 2 it returns EMPTY outputs and no error), hence
# opencv-python-headless < 4.12 (later wheels need numpy 2). No torch: the lean install is what makes this small.
#   usage: bash .ci/triton_env.sh [ENV_DIR]   (default .venv-triton)
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir="${1:-.venv-triton}"
start=$(date +%s)
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install -q -e ".[triton]" nvidia-pytriton "numpy<2" "opencv-python-headless<4.12"
"$env_dir/bin/python" -c "import grace_edge, numpy, tritonclient.grpc, pytriton; assert numpy.__version__ < '2'"
if "$env_dir/bin/python" -c "import torch" 2>/dev/null; then
  echo "triton_env: torch is installed in $env_dir; the lean runtime must not pull it" >&2
  exit 1
fi
echo "triton_env: $env_dir ready in $(( $(date +%s) - start )) s ($(du -sh "$env_dir" | cut -f1))"
