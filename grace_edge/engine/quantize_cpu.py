"""INT8 ONNX laid out for CPUs (ONNX Runtime's and OpenVINO's integer kernels), from the same FP32 graph, the same
calibration images, the same keyed cache mechanism and the same accuracy gate as the TensorRT INT8 graph.

Why a second layout: the TensorRT graph (:mod:`quantize`) is symmetric signed INT8 with Q/DQ on convolution *inputs*
only. TensorRT fuses that; a CPU runtime cannot. ONNX Runtime turns ``DQ -> op -> Q`` groups into integer kernels
(QLinearConv, QLinearSigmoid, QLinearMul, QLinearAdd, QLinearConcat); without a Q on the convolution output it keeps
the convolution in float, dequantizing the weights every run, and its u8s8 integer convolutions want unsigned
activations. So here:
- activations: uint8, asymmetric (zero point from the calibrated range: post-SiLU values are mostly >= -0.28, and a
  symmetric range would spend half its codes on negatives that never occur);
- weights: int8, symmetric, per output channel; bias int32 (ONNX Runtime fuses a convolution into QLinearConv only
  when every input, bias included, comes from a DequantizeLinear);
- Q/DQ on convolution outputs too, and on SiLU's Sigmoid and Mul, so each Conv + SiLU runs as integer kernels;
- left in float, as in the TensorRT graph: preprocessing, decode + NMS, the last convolution of each head branch
  (option), and the Lite-FEN attention gates (a Sigmoid/Mul that is not a SiLU).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from grace_edge.engine.precision import find_regions
from grace_edge.engine.quantize import PERCENTILE, QuantizeResult, quantize_with

if TYPE_CHECKING:
    import onnx

LAYOUT = "cpu"  # ArtifactMeta.source["int8_layout"]; the TensorRT graph's is "tensorrt"
CPU_OP_TYPES = ("Conv", "Add", "Concat", "MaxPool", "Sigmoid", "Mul")


def cpu_settings(method: str, exclude_head_outputs: bool) -> dict[str, object]:
    """Everything besides model and images that changes the CPU calibration or graph (part of the cache key)."""
    import onnxruntime

    return {
        "layout": LAYOUT,
        "method": method,
        "percentile": PERCENTILE if method == "percentile" else None,
        "activations": "uint8 asymmetric",
        "weights": "int8 symmetric per-channel",
        "quantize_bias": True,
        "op_types": sorted(CPU_OP_TYPES),
        "conv_output_qdq": True,
        "exclude_head_outputs": exclude_head_outputs,
        "onnxruntime": onnxruntime.__version__,
        "format": 1,
    }


def non_silu_nodes(model: onnx.ModelProto) -> set[str]:
    """Sigmoid and Mul nodes that are not half of a SiLU (``x * sigmoid(x)``): attention gates and scalings."""
    consumers: dict[str, list[Any]] = defaultdict(list)
    for n in model.graph.node:
        for name in n.input:
            consumers[name].append(n)
    silu: set[str] = set()
    for n in model.graph.node:
        if n.op_type != "Sigmoid":
            continue
        muls = [c for c in consumers[n.output[0]] if c.op_type == "Mul" and n.input[0] in c.input]
        if muls:
            silu.add(n.name)
            silu.update(m.name for m in muls)
    return {n.name for n in model.graph.node if n.op_type in ("Sigmoid", "Mul") and n.name not in silu}


def quantize_int8_cpu(
    src: str | Path,
    out: str | Path,
    images: Sequence[str | Path],
    *,
    method: str = "minmax",
    exclude_head_outputs: bool = True,
    cache_dir: str | Path | None = None,
    write: bool = True,
) -> QuantizeResult:
    """Write the CPU-layout INT8 copy of the FP32 grace-edge ONNX ``src`` to ``out``, calibrated on ``images``."""
    return quantize_with(
        src, out, images, method=method, exclude_head_outputs=exclude_head_outputs, cache_dir=cache_dir, write=write,
        config=cpu_settings(method, exclude_head_outputs), op_types=CPU_OP_TYPES, unsigned_activations=True,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "QuantizeBias": True},
        exclude=lambda model: non_silu_nodes(model) | set(find_regions(model).gates), source={"int8_layout": LAYOUT},
    )
