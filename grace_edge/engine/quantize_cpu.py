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
- left in float: preprocessing (its bilinear Resize stays out of ORT's NHWC path, which made it slow), decode + NMS.

Two layouts (``LAYOUTS``), chosen by ``benchmarks/cpu_profile.py`` (where the time goes) and ``cpu_runtime.py``:
- ``silu`` (the first CPU layout): Conv, Add, Concat, MaxPool and SiLU quantized; the Lite-FEN gates, their
  residual and the last convolution of each head branch in float. ORT then runs each C3k2 ``Split`` in float
  (DQ -> Split -> Q) and dequantizes into the float head and gates: the profile's "Q/DQ boundaries" row.
- ``integer`` (the default): also ``Split`` (ORT then drops its Q/DQ: it moves uint8 as it is), the Lite-FEN gates,
  their scaling and residual (QLinearSigmoid/QLinearAdd/QLinearMul), and the head's last convolutions, so the whole
  network from the first convolution to the head's outputs runs in integer kernels and only the head outputs are
  dequantized into the float decode.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from grace_edge.engine.precision import find_regions
from grace_edge.engine.quantize import PERCENTILE, QuantizeResult, quantize_with

if TYPE_CHECKING:
    from grace_edge.data.calibration import CalibrationSet
    import onnx

LAYOUT = "cpu"  # ArtifactMeta.source["int8_layout"]; the TensorRT graph's is "tensorrt"
CPU_OP_TYPES = ("Conv", "Add", "Concat", "MaxPool", "Sigmoid", "Mul")


@dataclass(frozen=True)
class CpuLayout:
    """Which ops of the FP32 graph get Q/DQ in a CPU INT8 layout."""

    name: str
    op_types: tuple[str, ...]
    quantize_gates: bool  # Lite-FEN attention gates, their scaling and residual (Sigmoid/Mul/Add outside SiLUs)
    quantize_head_outputs: bool  # the last convolution of each head branch (default of exclude_head_outputs)
    rewrites: bool = False  # grace_edge.engine.cpu_graph's exact rewrites (gray fold, integer upsample)


LAYOUTS = {
    "silu": CpuLayout("silu", CPU_OP_TYPES, quantize_gates=False, quantize_head_outputs=False),
    "integer": CpuLayout("integer", (*CPU_OP_TYPES, "Split", "GlobalAveragePool"), quantize_gates=True,
                         quantize_head_outputs=True, rewrites=True),
}
DEFAULT_LAYOUT = "integer"


def get_layout(name: str) -> CpuLayout:
    from grace_edge.errors import InputError

    if name not in LAYOUTS:
        raise InputError(f"CPU INT8 layout {name!r}: choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def cpu_settings(method: str, exclude_head_outputs: bool, layout: str = "silu") -> dict[str, object]:
    """Everything besides model and images that changes the CPU calibration or graph (part of the cache key)."""
    import onnxruntime

    ops = get_layout(layout)
    return {
        "layout": LAYOUT,
        **({} if layout == "silu" else {"cpu_layout": layout, "quantize_gates": ops.quantize_gates,
                                        "rewrites": ops.rewrites}),
        "method": method,
        "percentile": PERCENTILE if method == "percentile" else None,
        "activations": "uint8 asymmetric",
        "weights": "int8 symmetric per-channel",
        "quantize_bias": True,
        "op_types": sorted(ops.op_types),
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
    images: "Sequence[str | Path] | CalibrationSet",
    *,
    method: str = "minmax",
    exclude_head_outputs: bool | None = None,
    cache_dir: str | Path | None = None,
    layout: str = DEFAULT_LAYOUT,
    write: bool = True,
) -> QuantizeResult:
    """Write the CPU-layout INT8 copy of the FP32 grace-edge ONNX ``src`` to ``out``, calibrated on ``images``.
    ``exclude_head_outputs`` defaults to the layout's choice."""
    ops = get_layout(layout)
    exclude_head = not ops.quantize_head_outputs if exclude_head_outputs is None else exclude_head_outputs
    gates = (lambda model: set()) if ops.quantize_gates else (
        lambda model: non_silu_nodes(model) | set(find_regions(model).gates))
    return quantize_with(
        src, out, images, method=method, exclude_head_outputs=exclude_head, cache_dir=cache_dir, write=write,
        config=cpu_settings(method, exclude_head, layout), op_types=ops.op_types, unsigned_activations=True,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "QuantizeBias": True},
        exclude=gates, source={"int8_layout": LAYOUT, "cpu_layout": layout},
        rewrite=_fold if ops.rewrites else None, finish=_upsample if ops.rewrites else None,
    )


def _fold(model: onnx.ModelProto) -> None:
    from grace_edge.engine.cpu_graph import fold_gray_channels

    fold_gray_channels(model)


def _upsample(model: onnx.ModelProto) -> None:
    from grace_edge.engine.cpu_graph import integer_upsample

    integer_upsample(model)
