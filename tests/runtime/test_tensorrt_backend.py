"""The TensorRT backend's own logic, run against FAKE ``tensorrt`` and ``pycuda`` modules put in sys.modules.

These fakes prove nothing about the GPU path (tests/runtime/test_tensorrt_backend_gpu.py does that on a GPU). They check that our
code uses the documented TensorRT 10 calls (named tensors: set_tensor_address once per slot, set_input_shape,
execute_async_v3, never execute_async_v2), pushes/pops the primary context around every CUDA call on every thread,
allocates buffers once per slot, copies only the rows in use, and frees everything on close.
The fake engine computes what the fake ONNX graph does (test_runtime_fake_graph), so results can be checked.
"""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.fake_graph import MAX_DET, NAMES, ROWS, SHIFT, VALID, fake_rows

from grace_edge.artifact import ArtifactMeta, pack_engine
from grace_edge.errors import ArtifactError, BackendUnavailable
from grace_edge.runtime import Detector
from grace_edge.runtime import tensorrt_backend

HW = (48, 64)


class Log:
    """Everything the fakes saw."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.stack: dict[int, int] = {}  # thread id -> pushed contexts
        self.memory: dict[int, np.ndarray] = {}
        self.allocations = 0
        self.pinned = 0
        self.next_address = 0x1000
        self.detached = 0

    def add(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)

    def require_context(self, what: str) -> None:
        assert self.stack.get(threading.get_ident(), 0) > 0, f"{what} called without a pushed CUDA context"

    def count(self, name: str) -> int:
        return sum(c == name for c in self.calls)


def fake_pycuda(log: Log) -> tuple[types.ModuleType, types.ModuleType]:
    drv = types.ModuleType("pycuda.driver")

    class Context:
        def push(self) -> None:
            tid = threading.get_ident()
            log.stack[tid] = log.stack.get(tid, 0) + 1

        @staticmethod
        def pop() -> None:
            tid = threading.get_ident()
            assert log.stack.get(tid, 0) > 0, "pop without push"
            log.stack[tid] -= 1

        def detach(self) -> None:
            log.detached += 1

    class Device:
        def __init__(self, index: int) -> None:
            self.index = index

        @staticmethod
        def count() -> int:
            return 1

        def retain_primary_context(self) -> Context:
            log.add("retain_primary_context")
            return Context()

    class Allocation:
        def __init__(self, nbytes: int) -> None:
            log.require_context("mem_alloc")
            self.address = log.next_address
            log.next_address += nbytes + 256
            log.memory[self.address] = np.zeros(nbytes, np.uint8)
            log.allocations += 1

        def __int__(self) -> int:
            return self.address

        def free(self) -> None:
            log.require_context("free")
            del log.memory[self.address]

    class Stream:
        def __init__(self) -> None:
            log.require_context("Stream")
            self.handle = id(self)

        def synchronize(self) -> None:
            log.require_context("Stream.synchronize")

    class Event:
        def record(self, stream: Stream) -> None:
            log.require_context("Event.record")
            self.t = len(log.calls)

        def synchronize(self) -> None:
            log.require_context("Event.synchronize")

        def time_since(self, other: "Event") -> float:
            return 0.5  # milliseconds

    def pagelocked_empty(shape, dtype):
        log.require_context("pagelocked_empty")
        log.pinned += 1
        return np.empty(shape, dtype)

    def memcpy_htod_async(dest, src, stream) -> None:
        log.require_context("memcpy_htod_async")
        log.add("htod")
        log.memory[int(dest)][: src.nbytes] = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)

    def memcpy_dtoh_async(dest, src, stream) -> None:
        log.require_context("memcpy_dtoh_async")
        log.add("dtoh")
        dest[...] = np.frombuffer(log.memory[int(src)][: dest.nbytes].tobytes(), dest.dtype).reshape(dest.shape)

    def init() -> None:
        log.add("init")

    drv.__dict__.update(
        Context=Context, Device=Device, Stream=Stream, Event=Event, pagelocked_empty=pagelocked_empty,
        mem_alloc=Allocation, memcpy_htod_async=memcpy_htod_async, memcpy_dtoh_async=memcpy_dtoh_async, init=init,
    )
    pkg = types.ModuleType("pycuda")
    pkg.driver = drv  # type: ignore[attr-defined]
    return pkg, drv


def fake_tensorrt(log: Log, names=("images", "detections", "num_detections")) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0-fake"

    class TensorIOMode:
        INPUT, OUTPUT = "input", "output"

    class DataType:
        UINT8, FLOAT, INT32 = np.uint8, np.float32, np.int32

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    shapes = {names[0]: (-1, *HW, 1), names[1]: (-1, MAX_DET, 6), names[2]: (-1,)}
    dtypes = {names[0]: DataType.UINT8, names[1]: DataType.FLOAT, names[2]: DataType.INT32}

    class ExecutionContext:
        def __init__(self) -> None:
            self.addresses: dict[str, int] = {}
            self.shape: tuple[int, ...] | None = None

        def set_tensor_address(self, name: str, address: int) -> bool:
            log.add("set_tensor_address")
            self.addresses[name] = address
            return True

        def set_input_shape(self, name: str, shape) -> bool:
            log.add("set_input_shape")
            self.shape = tuple(shape)
            return 1 <= self.shape[0] <= 8

        def execute_async_v3(self, stream_handle: int) -> bool:
            log.require_context("execute_async_v3")
            log.add("execute_async_v3")
            n = self.shape[0]
            pixels = log.memory[self.addresses[names[0]]][: n * HW[0] * HW[1]].reshape(n, -1)
            s = pixels.astype(np.float32).mean(axis=1) / 255
            dets = ROWS[None] + s[:, None, None] * SHIFT[None]
            out = log.memory[self.addresses[names[1]]]
            out[: dets.nbytes] = np.frombuffer(dets.astype(np.float32).tobytes(), np.uint8)
            counts = np.full(n, VALID, np.int32)
            log.memory[self.addresses[names[2]]][: counts.nbytes] = np.frombuffer(counts.tobytes(), np.uint8)
            return True

        def execute_async_v2(self, *args) -> bool:
            log.add("execute_async_v2")
            raise AssertionError("execute_async_v2 was removed in TensorRT 10")

    class Engine:
        num_io_tensors = 3

        def get_tensor_name(self, i: int) -> str:
            return names[i]

        def get_tensor_mode(self, name: str) -> str:
            return TensorIOMode.INPUT if name == names[0] else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str):
            return dtypes[name]

        def get_tensor_shape(self, name: str):
            return shapes[name]

        def get_tensor_profile_shape(self, name: str, profile: int):
            return [(1, *HW, 1), (4, *HW, 1), (8, *HW, 1)]

        def create_execution_context(self) -> ExecutionContext:
            log.require_context("create_execution_context")
            log.add("create_execution_context")
            return ExecutionContext()

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, blob: bytes):
            log.require_context("deserialize_cuda_engine")
            log.add("deserialize_cuda_engine")
            return None if blob == b"incompatible" else Engine()

    trt.__dict__.update(TensorIOMode=TensorIOMode, DataType=DataType, Logger=Logger, Runtime=Runtime,
                        nptype=lambda dt: dt)
    return trt


def fake_cudart(log: Log) -> types.SimpleNamespace:
    ok = 0

    def begin(stream, mode):
        log.add("begin_capture")
        return (ok,)

    def end(stream):
        log.add("end_capture")
        return ok, "graph"

    def launch(graph_exec, stream):
        log.add("graph_launch")
        return (ok,)

    return types.SimpleNamespace(
        cudaStreamCaptureMode=types.SimpleNamespace(cudaStreamCaptureModeThreadLocal=1),
        cudaStreamBeginCapture=begin, cudaStreamEndCapture=end,
        cudaGraphInstantiate=lambda g, flags: (log.add("instantiate"), (ok, "exec"))[1],
        cudaGraphLaunch=launch, cudaGraphDestroy=lambda g: (ok,), cudaGraphExecDestroy=lambda g: (ok,),
    )


@pytest.fixture()
def fakes(monkeypatch: pytest.MonkeyPatch) -> Log:
    log = Log()
    pkg, drv = fake_pycuda(log)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(log))
    return log


def write_engine(path: Path, blob: bytes = b"fake serialized engine") -> Path:
    meta = ArtifactMeta(names=NAMES, imgsz=HW, input_format="uint8_nhwc", input_shape=(*HW, 1), max_det=MAX_DET,
                        conf_thres=0.001, batch=(1, 4, 8), backend={"tensorrt": "10.3.0", "gpu": "fake"})
    path.write_bytes(pack_engine(meta, blob))
    return path


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    return [rng.integers(0, 256, size=HW, dtype=np.uint8) for _ in range(n)]


def test_named_tensor_api_context_push_pop_and_buffers_once_per_slot(fakes: Log, tmp_path: Path) -> None:
    engine = write_engine(tmp_path / "fake.engine")
    batch = images(11)  # > max batch 8: two runs per call
    with Detector.open(engine, workers=2) as det:
        assert det.backend == "tensorrt" and det.max_batch == 8
        for _ in range(3):
            out = det.detect_arrays(batch)
            for image, rows in zip(batch, out):
                np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
        threads = [threading.Thread(target=det.detect_arrays, args=(batch[:3],)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        futures = [det.submit(im) for im in batch[:4]]
        assert all(len(f.result()) == 1 for f in futures)
        _, times = det.profile(batch[:2])
    assert times["h2d"] == times["compute"] == times["d2h"] == pytest.approx(0.0005)
    assert fakes.count("deserialize_cuda_engine") == 1 and fakes.count("create_execution_context") == 2
    assert fakes.count("set_tensor_address") == 2 * 3  # once per tensor per slot, never per run
    assert fakes.allocations == 2 * 3 and fakes.pinned == 2 * 3
    assert fakes.count("execute_async_v2") == 0 and fakes.count("execute_async_v3") == 3 * 2 + 4 + 4 + 1
    assert fakes.count("set_input_shape") < fakes.count("execute_async_v3")  # only when the batch size changes
    assert all(depth == 0 for depth in fakes.stack.values()) and len(fakes.stack) > 1  # balanced, on many threads
    assert fakes.memory == {} and fakes.detached == 1  # everything freed, primary context released


def test_cuda_graph_enqueues_once_then_captures_then_launches(fakes: Log, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorrt_backend, "import_cuda_graph_api", lambda: fake_cudart(fakes))
    batch = images(2)
    with Detector.open(write_engine(tmp_path / "g.engine"), cuda_graph=True) as det:
        for _ in range(3):
            for image, rows in zip(batch, det.detect_arrays(batch)):
                np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
    calls = [c for c in fakes.calls if c in ("execute_async_v3", "begin_capture", "end_capture", "graph_launch")]
    assert calls == ["execute_async_v3", "begin_capture", "execute_async_v3", "end_capture"] + ["graph_launch"] * 3


def test_cuda_graph_without_cuda_python_is_a_clear_error(fakes: Log, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    with pytest.raises(BackendUnavailable, match="cuda-python"):
        Detector.open(write_engine(tmp_path / "g.engine"), cuda_graph=True)


def test_engine_errors(fakes: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ArtifactError, match="10.3.0-fake could not deserialise.*built with TensorRT 10.3.0.*rebuild"):
        Detector.open(write_engine(tmp_path / "old.engine", b"incompatible"))
    assert fakes.detached == 1 and all(d == 0 for d in fakes.stack.values())
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(fakes, names=("input", "output0", "count")))
    with pytest.raises(ArtifactError, match="engine tensors"):
        Detector.open(write_engine(tmp_path / "foreign_io.engine"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(BackendUnavailable, match="pycuda is not installed"):
        Detector.open(write_engine(tmp_path / "x.engine"))
