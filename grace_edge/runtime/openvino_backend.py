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

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta, OnnxModel
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime.io_check import TensorSpec, check_io
from grace_edge.runtime.onnxruntime_backend import check_batch
from grace_edge.runtime.options import INFERENCE_PRECISIONS as PRECISIONS, RuntimeOptions

TITLE = "OpenVINO"
ACCEPTS = frozenset({"shared_cpu", "inference_precision"})
_HINTS = {"fp32": "f32", "bf16": "bf16"}
_OV_DTYPES = {"u8": np.uint8, "f32": np.float32, "i32": np.int32, "i64": np.int64, "f16": np.float16}
INSTALL_HINT = "pip install 'grace-edge[openvino]'"


def problem() -> str | None:
    """Why OpenVINO cannot run here, or None."""
    try:
        import_openvino()
    except InputError as e:
        return str(e)
    return None


def open_backend(model: OnnxModel, options: RuntimeOptions, workers: int) -> "OpenVinoBackend":
    """The registry's entry point: ``model`` was read and checked once; OpenVINO compiles exactly its bytes."""
    from grace_edge.runtime.backends import cpu_threads

    return OpenVinoBackend(model.origin, model.meta, model.data, options.inference_precision,
                           threads=cpu_threads(workers), shared_cpu=options.shared_cpu)


def build_artifact(model: Any, meta: ArtifactMeta, **build: Any) -> Any:
    """The same CPU model as ONNX Runtime's (checked to load there, the default CPU runtime)."""
    from grace_edge.runtime.onnxruntime_backend import build_artifact as cpu_model

    return cpu_model(model, meta, **build)


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
        def spec(port: Any) -> TensorSpec:
            shape = port.get_partial_shape()
            dims = tuple(d.get_length() if d.is_static else None for d in shape) if shape.rank.is_static else None
            dtype = _OV_DTYPES.get(port.get_element_type().get_type_name(), object)
            names = port.get_names()  # a tensor may carry several names; ours is among them
            name = next((n for n in (INPUT_NAME, OUTPUT_DETECTIONS, OUTPUT_COUNT) if n in names), port.get_any_name())
            return TensorSpec(name, dtype, dims)

        return check_io(str(self.path), self.meta, [spec(p) for p in model.inputs], [spec(p) for p in model.outputs])

    def create_slot(self) -> "OpenVinoSlot":
        return OpenVinoSlot(self)

    def close(self) -> None:
        self.compiled = None


class OpenVinoSlot:
    """One in-flight batch: an infer request and its own input buffer."""

    def __init__(self, backend: OpenVinoBackend) -> None:
        meta = backend.meta
        self.backend = backend
        self.inputs = np.zeros((backend.max_batch, *meta.input_shape), dtype=meta.input.dtype)
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
