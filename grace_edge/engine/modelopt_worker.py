"""Run NVIDIA ModelOpt's ONNX INT8 PTQ for :mod:`grace_edge.engine.quantize_modelopt`; standalone on purpose.

ModelOpt's ``[onnx]`` extra pins its own onnxruntime(-gpu), cupy and torch, which would replace the main
environment's onnxruntime, so it usually lives in a venv of its own (``.ci/modelopt_env.sh``) that has no
grace-edge in it. This file therefore imports nothing from grace-edge: the main process runs it as
``<venv>/bin/python modelopt_worker.py REQUEST.json`` (or calls :func:`quantize` directly when ModelOpt imports
in its own environment). The request names an FP32 ONNX file with named nodes, an ``.npy`` of calibration inputs,
the node names to leave unquantized, the node names to keep in FP32, and the output path.

What ModelOpt does here (0.47): Q/DQ placed by its TensorRT rules (Conv/Add/Concat/pooling inputs, concat groups
sharing scales), symmetric INT8, per-channel weights kept as float constants feeding a QuantizeLinear, calibration
on ONNX Runtime's CPU execution provider, then everything outside the Q/DQ pairs converted to FP16. ModelOpt's own
FP16 step blocks by op type only; the box decode and NMS must stay FP32 (IoU areas overflow FP16 above 256 px), so
its node classification is widened by node name for those (see :func:`_keep_fp32`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

METHODS = {"entropy": "entropy", "minmax": "max"}  # grace-edge's --calib-method -> ModelOpt's calibration_method


def _keep_fp32(names: set[str]) -> None:
    """Make ModelOpt's FP16 conversion leave the nodes ``names`` in FP32 (it offers op types only)."""
    from modelopt.onnx.autocast.precisionconverter import PrecisionConverter

    convert = PrecisionConverter.convert

    def convert_keeping(self: Any, high_precision_nodes: list[str], low_precision_nodes: list[str]) -> Any:
        high = list(high_precision_nodes) + [n for n in low_precision_nodes if n in names]
        return convert(self, high, [n for n in low_precision_nodes if n not in names])

    PrecisionConverter.convert = convert_keeping


def quantize(request: dict[str, Any]) -> dict[str, Any]:
    """Quantize as ``request`` says; returns what ModelOpt did (its version and Q/DQ count)."""
    import numpy as np
    import onnx
    import modelopt
    from modelopt.onnx.quantization import quantize as modelopt_quantize

    _keep_fp32(set(request["keep_fp32"]))
    data = np.load(request["calibration"])
    modelopt_quantize(
        request["onnx"],
        quantize_mode="int8",
        calibration_data={request["input"]: data},
        calibration_method=METHODS[request["method"]],
        calibration_eps=["cpu"],  # no GPU is needed to quantize; TensorRT builds the result on the GPU box
        nodes_to_exclude=[f"^{_escape(n)}$" for n in request["exclude"]],
        high_precision_dtype="fp16",
        output_path=request["out"],
        log_level="WARNING",
    )
    model = onnx.load(request["out"])
    qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
    return {"modelopt": modelopt.__version__, "qdq_nodes": qdq}


def _escape(name: str) -> str:
    import re

    return re.escape(name)  # ModelOpt matches nodes_to_exclude as regular expressions


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    report = quantize(request)
    Path(request["report"]).write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
