"""OpenVINO (CPU) backend: runs the same ONNX graph as ONNX Runtime and TensorRT, for x86 line PCs without a GPU.

Optional: ``pip install grace-edge[openvino]``. The graph is read as it is (in-graph preprocessing, decode and NMS
included) and compiled for the CPU with a precision hint:
- ``fp32``: every layer in float32;
- ``bf16``: OpenVINO runs the float layers in bfloat16 where the CPU has native BF16 (AVX512_BF16 or AMX); on a CPU
  without it the hint is refused with one line, rather than silently running FP32;
- an INT8 artifact (Q/DQ graph from ``grace-edge build --int8``) runs its quantized layers as integer kernels under
  either hint.
Each precision changes the numbers, so each goes through the accuracy gate like any other build.

``shared_cpu`` (see onnxruntime_backend): no pinning of inference threads to cores, so that other busy processes
on the same CPU are not fighting threads pinned onto their cores.

Each :class:`OpenVinoSlot` owns an ``InferRequest`` whose input tensor shares memory with the slot's numpy buffer.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime.onnxruntime_backend import check_batch

PRECISIONS = ("fp32", "bf16")  # OpenVINO's inference precision hints we offer
_HINTS = {"fp32": "f32", "bf16": "bf16"}
_OV_TYPES = {"uint8_nhwc": "u8", "float32_nchw": "f32"}
INSTALL_HINT = "pip install 'grace-edge[openvino]'"


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise InputError(f"the OpenVINO backend needs the openvino package: {INSTALL_HINT}") from None
    return openvino


def cpu_supports(precision: str) -> bool:
    """Whether OpenVINO's CPU plugin on this machine runs ``precision`` natively (fp32 always)."""
    if precision == "fp32":
        return True
    core = import_openvino().Core()
    return precision.upper() in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def check_precision(precision: str) -> str:
    precision = str(precision).strip().lower()
    if precision not in PRECISIONS:
        raise InputError(f"--inference-precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if not cpu_supports(precision):
        raise InputError(f"--inference-precision {precision}: this CPU has no native {precision.upper()} "
                         "(needs AVX512_BF16 or AMX); use fp32")
    return precision


class OpenVinoBackend:
    """Compiles an ONNX artifact for OpenVINO's CPU plugin (latency hint: one stream, every core per request)."""

    name = "openvino"

    def __init__(self, path: str | Path, meta: ArtifactMeta, model: bytes, precision: str = "fp32",
                 threads: int | None = None, shared_cpu: bool = False) -> None:
        """``model``: the bytes whose digest gave ``meta`` (artifact.read_onnx); ``path`` names it in messages."""
        ov = import_openvino()
        self.path = Path(path)
        self.meta = meta
        self.precision = check_precision(precision)
        self.shared_cpu = bool(shared_cpu)
        core = ov.Core()
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": _HINTS[self.precision],
            "INFERENCE_NUM_THREADS": int(threads or os.cpu_count() or 1),
            "ENABLE_CPU_PINNING": not self.shared_cpu,
        }
        try:
            graph = core.read_model(model)
            self.min_batch, self.max_batch = self._check_io(graph)
            self.compiled = core.compile_model(graph, "CPU", config)
        except ArtifactError:
            raise
        except Exception as e:  # OpenVINO raises RuntimeError with a multi-line report for unreadable graphs
            raise ArtifactError(f"{self.path}: OpenVINO cannot load this model ({str(e).strip().splitlines()[0]})") from None

    def _check_io(self, model: Any) -> tuple[int, int]:
        inputs = {name: port for port in model.inputs for name in port.get_names()}
        outputs = {name for port in model.outputs for name in port.get_names()}
        if INPUT_NAME not in inputs or len(model.inputs) != 1 or not {OUTPUT_DETECTIONS, OUTPUT_COUNT} <= outputs:
            raise ArtifactError(f"{self.path}: graph I/O is {sorted(inputs)} -> {sorted(outputs)}, expected "
                                f"['{INPUT_NAME}'] -> {sorted([OUTPUT_COUNT, OUTPUT_DETECTIONS])}; export it with "
                                "'grace-edge export'")
        port = inputs[INPUT_NAME]
        shape = port.get_partial_shape()
        element = port.get_element_type().get_type_name()
        if element != _OV_TYPES[self.meta.input_format] or shape.rank.get_length() != 4:
            raise ArtifactError(f"{self.path}: input '{INPUT_NAME}' is {element} {shape}, but its metadata says "
                                f"{self.meta.input_format} {self.meta.input_shape}")
        dims = [d.get_length() if d.is_static else None for d in shape]
        if None not in dims[1:] and tuple(dims[1:]) != tuple(self.meta.input_shape):
            raise ArtifactError(f"{self.path}: input shape {dims[1:]} does not match metadata input_shape "
                                f"{self.meta.input_shape}")
        if dims[0] is not None:
            return dims[0], dims[0]
        return 1, self.meta.batch[2]

    def create_slot(self) -> "OpenVinoSlot":
        return OpenVinoSlot(self)

    def close(self) -> None:
        self.compiled = None


class OpenVinoSlot:
    """One in-flight batch: an infer request and its own input buffer."""

    def __init__(self, backend: OpenVinoBackend) -> None:
        meta = backend.meta
        self.backend = backend
        dtype = np.uint8 if meta.input_format == "uint8_nhwc" else np.float32
        self.inputs = np.zeros((backend.max_batch, *meta.input_shape), dtype=dtype)
        self.request = backend.compiled.create_infer_request()

    def input_buffer(self, n: int) -> np.ndarray:
        return self.inputs[:n]

    def run(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Run on the first ``n`` input rows; returns views of the request's outputs, valid until the next run."""
        import openvino as ov

        check_batch(n, self.backend.min_batch, self.backend.max_batch)
        t0 = time.perf_counter()
        try:
            self.request.infer({INPUT_NAME: ov.Tensor(self.inputs[:n], shared_memory=True)})
        except Exception as e:
            raise ArtifactError(f"{self.backend.path}: inference failed ({str(e).strip().splitlines()[0]})") from None
        compute = time.perf_counter() - t0
        detections = self.request.get_tensor(OUTPUT_DETECTIONS).data
        counts = self.request.get_tensor(OUTPUT_COUNT).data
        return detections, counts, {"h2d": 0.0, "compute": compute, "d2h": 0.0}

    def close(self) -> None:
        self.request = None
