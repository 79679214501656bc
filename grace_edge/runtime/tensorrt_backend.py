"""TensorRT backend: a thin layer over NVIDIA's documented Python API (TensorRT >= 10, named tensors).

- The engine is deserialised once (``IRuntime.deserialize_cuda_engine``); each :class:`TensorRTSlot` owns one
  ``IExecutionContext`` on it, a pycuda stream, page-locked host buffers and device buffers, all allocated once
  for the engine's maximum batch; tensor addresses are bound once with ``set_tensor_address``.
- A run = async H2D copy, ``execute_async_v3(stream)``, async D2H copies, one synchronise on the last event.
  CUDA events time each stage. Streams are non-blocking and events blocking-sync by default (``sync="spin"`` to
  busy-wait), see :mod:`grace_edge.runtime.cuda_streams`; every TensorRT object gets the process's one logger
  (:mod:`grace_edge.runtime.trt_logging`). ``execute_async_v2`` (removed in TensorRT 10) is never used.
- Every CUDA call happens between ``PrimaryContext.active()`` push/pop, so any thread may use any slot.
- ``cuda_graph=True`` captures the enqueue in a CUDA graph per (slot, batch size), as TensorRT's docs describe:
  enqueue once after the shape change, then capture a second enqueue. A graph is only valid for the input shape its
  execution context had at capture, so each captured batch size gets its own execution context (bound to the slot's
  buffers), whose shape never changes again; this costs one context's activation memory per batch size used.
  pycuda has no graph API, so this uses ``cuda.bindings.runtime`` (the ``cuda-python`` package) and fails clearly
  when that is not importable.

Importing this module needs neither tensorrt nor pycuda; opening an engine without them -> BackendUnavailable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pathlib import Path

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta, unpack_engine
from grace_edge.errors import ArtifactError, BackendUnavailable, GraceEdgeError, InputError
from grace_edge.runtime.cuda_context import PrimaryContext, create_tensorrt, import_tensorrt
from grace_edge.runtime.cuda_streams import DEFAULT_SYNC, check_sync, new_event, new_stream
from grace_edge.runtime.backends import BuiltArtifact
from grace_edge.runtime.io_check import TensorSpec, check_io
from grace_edge.runtime.options import RuntimeOptions
from grace_edge.runtime.trt_logging import tensorrt_logger

TITLE = "TensorRT engines"
ACCEPTS = frozenset({"cuda_graph", "sync"})


def problem() -> str | None:
    """Why no engine can run here (TensorRT missing or its native libraries not loading), or None."""
    try:
        import_tensorrt()
    except BackendUnavailable as e:
        return str(e)
    return None


def open_backend(path: Path, options: RuntimeOptions, workers: int) -> "TensorRTBackend":
    """The registry's entry point: header, size and hash checked before TensorRT sees the bytes."""
    from grace_edge.runtime.cuda_context import parse_device

    index = parse_device(options.device)
    meta, blob = unpack_engine(path)
    return TensorRTBackend(blob, meta, str(path), device_index=index, cuda_graph=options.cuda_graph, sync=options.sync)


def build_artifact(model: Any, meta: ArtifactMeta, **build: Any) -> BuiltArtifact:
    """``grace-edge build``'s step for this backend: a strongly typed engine from the final ONNX (``build``: the
    TensorRT settings of :func:`grace_edge.engine.tensorrt_build.build_engine`), its header naming the GPU."""
    import hashlib

    from grace_edge.artifact import pack_engine
    from grace_edge.engine.tensorrt_build import build_engine, gpu_info
    from grace_edge.io import temp_dir

    gpu = gpu_info()
    data = model.SerializeToString()  # model: the in-memory onnx.ModelProto
    with temp_dir("grace-trt-") as tmp:  # TensorRT's parser takes a file (it resolves the model's folder)
        onnx_path = Path(tmp) / "model.onnx"
        onnx_path.write_bytes(data)
        built = build_engine(onnx_path, **build)
    meta.source = {**meta.source, "onnx_sha256": hashlib.sha256(data).hexdigest()}
    meta.backend = {"tensorrt": built.tensorrt_version, "gpu": gpu.name if gpu else "?",
                    "compute_capability": gpu.compute_capability if gpu else "?"}
    if build.get("dla_core") is not None:
        meta.backend["dla_core"] = str(build["dla_core"])
    return BuiltArtifact(pack_engine(meta, built.engine), meta, list(built.notes))


def import_cuda_graph_api() -> Any:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        raise BackendUnavailable(
            "cuda_graph=True needs the cuda-python package (pip install cuda-python): pycuda has no CUDA-graph API"
        ) from None
    return cudart


def _check(result: Any, what: str) -> Any:
    """Unpack a ``cuda.bindings`` call result ``(err, *values)``; raise on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise GraceEdgeError(f"CUDA graph: {what} failed ({err}); open the engine with cuda_graph=False")
    return values[0] if values else None


class TensorRTBackend:
    """One deserialised engine on one GPU; slots share it."""

    name = "tensorrt"

    def __init__(self, engine_bytes: bytes, meta: ArtifactMeta, origin: str, device_index: int = 0,
                 cuda_graph: bool = False, sync: str = DEFAULT_SYNC) -> None:
        self.sync = check_sync(sync)
        self.trt = import_tensorrt()
        self.cudart = import_cuda_graph_api() if cuda_graph else None
        self.meta = meta
        self.origin = origin
        self.context = PrimaryContext(device_index)
        self.cuda = self.context.driver
        try:
            with self.context.active():
                trt = self.trt
                self.logger = tensorrt_logger(trt)
                self.runtime = create_tensorrt(trt.Runtime, self.logger)
                self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
                if self.engine is None:
                    built = meta.backend.get("tensorrt", "?")
                    raise ArtifactError(
                        f"{origin}: TensorRT {trt.__version__} could not deserialise this engine (built with TensorRT "
                        f"{built} on {meta.backend.get('gpu', '?')}); rebuild it on this machine with 'grace-edge build'"
                    )
                self.min_batch, self.max_batch = self._check_io()
        except BaseException:
            self.close()
            raise

    def _check_io(self) -> tuple[int, int]:
        trt, engine = self.trt, self.engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

        def spec(name: str) -> TensorSpec:
            return TensorSpec(name, np.dtype(trt.nptype(engine.get_tensor_dtype(name))),
                              tuple(d if d >= 0 else None for d in engine.get_tensor_shape(name)))

        is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        batch_range = None
        if INPUT_NAME in is_input and is_input[INPUT_NAME] and tuple(engine.get_tensor_shape(INPUT_NAME))[0] < 0:
            low, _, high = engine.get_tensor_profile_shape(INPUT_NAME, 0)
            batch_range = (int(low[0]), int(high[0]))
        return check_io(self.origin, self.meta, [spec(n) for n in names if is_input[n]],
                        [spec(n) for n in names if not is_input[n]], batch_range)

    def create_slot(self) -> "TensorRTSlot":
        return TensorRTSlot(self)

    def close(self) -> None:
        if getattr(self, "context", None) is None:
            return
        with self.context.active():  # TensorRT objects must die while the context is current
            self.engine = None
            self.runtime = None
        self.context.release()
        self.context = None  # type: ignore[assignment]


class TensorRTSlot:
    """One in-flight batch: execution context(s), stream, events and buffers, all allocated once."""

    def __init__(self, backend: TensorRTBackend) -> None:
        self.backend = backend
        cuda, meta, b = backend.cuda, backend.meta, backend.max_batch
        self._graphs: dict[int, tuple[Any, Any]] = {}  # batch size -> (its own execution context, executable graph)
        self._shape_n = 0
        self.dev: dict[str, Any] = {}
        self.exec_context = None
        with backend.context.active():
            self.stream = new_stream(cuda)
            self.events = [new_event(cuda, backend.sync) for _ in range(4)]  # start, after h2d, compute, d2h
            self.host = {
                INPUT_NAME: cuda.pagelocked_empty((b, *meta.input_shape), meta.input.dtype),
                OUTPUT_DETECTIONS: cuda.pagelocked_empty((b, meta.max_det, 6), np.float32),
                OUTPUT_COUNT: cuda.pagelocked_empty((b,), np.int32),
            }
            self.dev = {name: cuda.mem_alloc(array.nbytes) for name, array in self.host.items()}
            if backend.cudart is None:  # with CUDA graphs, each captured batch size gets its own context
                self.exec_context = self._new_exec_context()

    def _new_exec_context(self) -> Any:
        """An execution context on the shared engine, bound to this slot's buffers."""
        backend = self.backend
        exec_context = backend.engine.create_execution_context()
        if exec_context is None:
            raise BackendUnavailable(f"{backend.origin}: TensorRT could not create an execution context (GPU memory?)")
        for name, allocation in self.dev.items():
            if not exec_context.set_tensor_address(name, int(allocation)):
                raise ArtifactError(f"{backend.origin}: TensorRT rejected the address for tensor '{name}'")
        return exec_context

    def input_buffer(self, n: int) -> np.ndarray:
        return self.host[INPUT_NAME][:n]

    def _set_shape(self, exec_context: Any, n: int) -> None:
        shape = (n, *self.backend.meta.input_shape)
        if not exec_context.set_input_shape(INPUT_NAME, shape):
            raise InputError(f"{self.backend.origin}: TensorRT rejected input shape {shape}")

    def _enqueue(self, n: int) -> None:
        if self.backend.cudart is None:
            if n != self._shape_n:
                self._set_shape(self.exec_context, n)
                self._shape_n = n
            if not self.exec_context.execute_async_v3(self.stream.handle):
                raise GraceEdgeError(f"{self.backend.origin}: TensorRT execute_async_v3 failed (see its log above)")
            return
        entry = self._graphs.get(n)
        if entry is None:
            entry = self._graphs[n] = self._capture(n)
        _check(self.backend.cudart.cudaGraphLaunch(entry[1], self.stream.handle), "cudaGraphLaunch")

    def _capture(self, n: int) -> tuple[Any, Any]:
        """A new execution context fixed at batch ``n`` and the CUDA graph of its enqueue."""
        cudart, stream = self.backend.cudart, self.stream
        exec_context = self._new_exec_context()
        self._set_shape(exec_context, n)
        # TensorRT: after an input shape change, enqueue once (outside capture) to update its internal state.
        if not exec_context.execute_async_v3(stream.handle):
            raise GraceEdgeError(f"{self.backend.origin}: TensorRT execute_async_v3 failed before graph capture")
        stream.synchronize()
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal  # other threads keep running CUDA
        _check(cudart.cudaStreamBeginCapture(stream.handle, mode), "cudaStreamBeginCapture")
        ok = exec_context.execute_async_v3(stream.handle)
        graph = _check(cudart.cudaStreamEndCapture(stream.handle), "cudaStreamEndCapture")
        if not ok:
            cudart.cudaGraphDestroy(graph)
            raise GraceEdgeError(f"{self.backend.origin}: TensorRT enqueue failed during CUDA-graph capture")
        try:
            return exec_context, _check(cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        finally:
            cudart.cudaGraphDestroy(graph)  # the executable graph keeps what it needs

    def run(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Run the first ``n`` rows of the input buffer; returns views of (detections, counts) and stage seconds."""
        backend = self.backend
        if not backend.min_batch <= n <= backend.max_batch:
            raise InputError(
                f"batch of {n} is outside this engine's batch range {backend.min_batch}..{backend.max_batch} "
                "(Detector splits larger batches for you)"
            )
        cuda, stream, (e0, e1, e2, e3) = backend.cuda, self.stream, self.events
        with backend.context.active():
            e0.record(stream)
            cuda.memcpy_htod_async(self.dev[INPUT_NAME], self.host[INPUT_NAME][:n], stream)
            e1.record(stream)
            self._enqueue(n)
            e2.record(stream)
            for name in (OUTPUT_DETECTIONS, OUTPUT_COUNT):
                cuda.memcpy_dtoh_async(self.host[name][:n], self.dev[name], stream)
            e3.record(stream)
            e3.synchronize()
            times = {"h2d": e1.time_since(e0), "compute": e2.time_since(e1), "d2h": e3.time_since(e2)}
        return self.host[OUTPUT_DETECTIONS][:n], self.host[OUTPUT_COUNT][:n], {k: v / 1e3 for k, v in times.items()}

    def close(self) -> None:
        backend = self.backend
        if backend.context is None:
            return
        with backend.context.active():
            for _, graph_exec in self._graphs.values():
                backend.cudart.cudaGraphExecDestroy(graph_exec)
            self._graphs.clear()  # drops their execution contexts too
            for allocation in self.dev.values():
                allocation.free()
            self.dev.clear()
            self.host.clear()
            self.exec_context = None
            self.events = []
            self.stream = None
