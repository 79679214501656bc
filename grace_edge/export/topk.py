"""How many candidates the in-graph Cluster-NMS sees: the default K and TensorRT's limit on it.

Kept apart from :mod:`grace_edge.export.postprocess` (which needs torch) so that the ``--topk`` help of ``export``
and ``build`` (:func:`grace_edge.cli_options.add_topk`) can state them while ``grace-edge --help`` stays torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path

# Measured with benchmarks/nms_parity.py on a GRACE-n trained at 640 px (results/nms_parity_640.md: NEU-DET val, 360
# images, conf 0.001, IoU 0.7, max_det 100): K = 300 scores 0.03 pt mAP50-95 below greedy NMS over all candidates
# (within the 0.1 pt bound) and its postprocess costs 1.0 ms vs 5.5 ms for K = 1000, which matches greedy exactly;
# at 128 px K = 300, 1000 and 3000 gave the same mAP (results/nms_parity.md). On a quiet CPU the FP32 graph ran at
# 1.09x the bare network with K = 300 and 1.26x with K = 1000 (results/cpu_runtime.md, cpu_runtime_topk1000.md).
# ``--topk 1000`` buys exact greedy parity.
DEFAULT_TOPK = 300
# TensorRT's TopK layer limit on K: owned, with its sources, by the parser rules the conformance check applies
# (read here with json alone: the CLI's --help must not import onnx).
_RULES = Path(__file__).resolve().parents[1] / "engine" / "tensorrt_support" / "parser_rules.json"
TRT_TOPK_MAX: int = json.loads(_RULES.read_text(encoding="utf-8"))["rules"]["topk-k-max"]["max"]
