"""ONNX Runtime (CPU) backend: runs the same ONNX graph the TensorRT engine is built from.

One ``InferenceSession`` is shared (its ``run`` is thread-safe); each :class:`OrtSlot` owns its input and output
buffers and an ``IOBinding`` onto them, so a call allocates nothing and several slots can run at once.

``shared_cpu``: ONNX Runtime's worker threads spin (busy-wait) between the parallel parts of a run by default. On a
machine of its own that saves a few percent; on a CPU shared with other busy processes the spinning threads take
cores from the very threads they wait for and a run gets much slower (benchmarks/ort_spinning.py measures both).
``shared_cpu=True`` turns spinning off, so idle threads sleep.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta, OnnxModel
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime.io_check import TensorSpec, check_io
from grace_edge.runtime.options import RuntimeOptions

if TYPE_CHECKING:
    from grace_edge.runtime.backends import BuiltArtifact  # for the annotation; build_artifact imports it when run

TITLE = "ONNX Runtime"
ACCEPTS = frozenset({"shared_cpu"})
_ORT_DTYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(int32)": np.int32,
               "tensor(int64)": np.int64, "tensor(float16)": np.float16}


def problem() -> str | None:
    """Why ONNX Runtime cannot run here, or None (it is a core dependency, so normally None)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"onnxruntime does not import ({e})"
    return None


def open_backend(model: OnnxModel, options: RuntimeOptions, workers: int) -> "OnnxRuntimeBackend":
    """The registry's entry point: ``model`` was read and checked once; the session loads exactly its bytes."""
    from grace_edge.runtime.backends import cpu_threads

    return OnnxRuntimeBackend(model.origin, model.meta, model.data, threads=cpu_threads(workers),
                              shared_cpu=options.shared_cpu)


def build_artifact(model: Any, meta: ArtifactMeta, **build: Any) -> "BuiltArtifact":
    """``grace-edge build``'s step for this backend: the ONNX itself, once a CPU session has loaded it, sealed with
    ONNX Runtime's facts in its metadata (``model``: the in-memory ``onnx.ModelProto``; ``build``: TensorRT
    settings, which a CPU model has no use for)."""
    from grace_edge.artifact import set_onnx_meta
    from grace_edge.runtime.backends import BuiltArtifact

    import onnxruntime as ort

    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types (Fail, InvalidGraph, NotImplemented...)
        raise ArtifactError(f"ONNX Runtime {ort.__version__} cannot load the built model on this CPU: "
                            f"{str(e).splitlines()[0]}") from None
    meta.backend = {"runtime": "onnxruntime-cpu", "onnxruntime": ort.__version__}
    set_onnx_meta(model, meta)
    return BuiltArtifact(model.SerializeToString(), meta, [])


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape) if arg.shape is not None else None
    return TensorSpec(arg.name, _ORT_DTYPES.get(arg.type, object), shape)  # object: a type we never export


class OnnxRuntimeBackend:
    """Loads an ONNX artifact into a CPU session (intra-op threads = cores, sequential execution)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, meta: ArtifactMeta, model: bytes, threads: int | None = None,
                 shared_cpu: bool = False) -> None:
        """``model``: the bytes whose digest gave ``meta`` (artifact.read_onnx); ``path`` names it in messages."""
        import onnxruntime as ort

        self.path = Path(path)
        self.meta = meta
        self.shared_cpu = bool(shared_cpu)
        try:
            self.session = ort.InferenceSession(model, session_options(threads, self.shared_cpu),
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/... types for a broken model
            raise ArtifactError(f"{self.path}: ONNX Runtime cannot load this model ({str(e).splitlines()[0]})") from None
        self.min_batch, self.max_batch = self._check_io()

    def _check_io(self) -> tuple[int, int]:
        s = self.session
        return check_io(str(self.path), self.meta, [_spec(i) for i in s.get_inputs()], [_spec(o) for o in s.get_outputs()])

    def create_slot(self) -> "OrtSlot":
        return OrtSlot(self)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def session_options(threads: int | None = None, shared_cpu: bool = False) -> Any:
    """ONNX Runtime CPU session options: ``threads`` intra-op threads (default: every core), one inter-op thread,
    sequential execution, all graph optimizations; ``shared_cpu`` turns thread spinning off (see module doc)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    spin = "0" if shared_cpu else "1"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return options


def check_batch(n: int, min_batch: int, max_batch: int) -> None:
    """A CPU slot's run takes between ``min_batch`` and ``max_batch`` rows (the artifact's batch range)."""
    if not min_batch <= n <= max_batch:
        raise InputError(f"batch of {n} is outside this artifact's batch range {min_batch}..{max_batch} "
                         "(Detector splits larger batches for you)")


class OrtSlot:
    """One in-flight batch: own input/output buffers bound to the shared session."""

    def __init__(self, backend: OnnxRuntimeBackend) -> None:
        meta = backend.meta
        self.backend = backend
        self.inputs = np.zeros((backend.max_batch, *meta.input_shape), dtype=meta.input.dtype)
        self.detections = np.zeros((backend.max_batch, meta.max_det, 6), dtype=np.float32)
        self.counts = np.zeros((backend.max_batch,), dtype=np.int32)
        self.binding = backend.session.io_binding()

    def input_buffer(self, n: int) -> np.ndarray:
        """The first ``n`` input rows, to fill before :meth:`run`."""
        return self.inputs[:n]

    def run(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Run the graph on the first ``n`` input rows; returns views of (detections, counts) and stage times."""
        check_batch(n, self.backend.min_batch, self.backend.max_batch)
        b = self.binding
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        b.bind_cpu_input(INPUT_NAME, self.inputs[:n])
        for name, array in ((OUTPUT_DETECTIONS, self.detections), (OUTPUT_COUNT, self.counts)):
            view = array[:n]
            b.bind_output(name, "cpu", 0, view.dtype, view.shape, view.ctypes.data)
        t0 = time.perf_counter()
        try:
            self.backend.session.run_with_iobinding(b)
        except Exception as e:
            raise ArtifactError(f"{self.backend.path}: inference failed ({str(e).splitlines()[0]})") from None
        compute = time.perf_counter() - t0
        return self.detections[:n], self.counts[:n], {"h2d": 0.0, "compute": compute, "d2h": 0.0}

    def close(self) -> None:
        self.binding = None  # type: ignore[assignment]
