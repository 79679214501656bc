"""How many candidates the in-graph Cluster-NMS sees: the default K and TensorRT's limit on it.

Kept apart from :mod:`grace_edge.export.postprocess` (which needs torch) so that the ``--topk`` help of ``export``
and ``build`` (:func:`grace_edge.cli_options.add_topk`) can state them while ``grace-edge --help`` stays torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path

# Measured with benchmarks/nms_parity.py (results/nms_parity.md: GRACE-n trained at 128 px, NEU-DET val, 360 images,
# conf 0.001, IoU 0.7): K = 300, 1000 and 3000 gave the same mAP there. At 640 px (results/nms_parity_640.md, a weak
# model with flat scores, conf 0.001) K = 300 kept greedy's set on 52% of images, K = 1000 and 3840 on 99%: K = 1000
# stays the default for mAP-mode graphs. With the MatMul rounds, K = 1000 costs one K x K IoU matrix; a deployment
# export with a high score floor may use a smaller K.
DEFAULT_TOPK = 1000
# TensorRT's TopK layer limit on K: owned, with its sources, by the parser rules the conformance check applies
# (read here with json alone: the CLI's --help must not import onnx).
_RULES = Path(__file__).resolve().parents[1] / "engine" / "tensorrt_support" / "parser_rules.json"
TRT_TOPK_MAX: int = json.loads(_RULES.read_text(encoding="utf-8"))["rules"]["topk-k-max"]["max"]
