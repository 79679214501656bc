"""The TensorRT backend's own logic, run against FAKE ``tensorrt`` and ``pycuda`` modules put in sys.modules.

The fakes live in tests/fakes/ (one per real version: tensorrt 10.3 and 11.4, pycuda 2026.1, cuda.bindings.runtime)
and are checked against the real libraries' recorded API (tests/fakes/test_fakes_match_real_api.py). They prove
nothing about the GPU path (tests/runtime/test_tensorrt_backend_gpu.py does that on a GPU). They check that our code
uses the documented TensorRT 10/11 calls (named tensors: set_tensor_address once per context, set_input_shape,
execute_async_v3), pushes/pops the primary context around every CUDA call on every thread, allocates buffers once per
slot, copies only the rows in use, frees everything on close and releases the primary context from any thread.
The fake engine computes what the fake ONNX graph does (tests/helpers/fake_graph.py), so results can be checked.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from grace_edge.artifact import ArtifactMeta, pack_engine
from grace_edge.errors import ArtifactError, BackendUnavailable
from grace_edge.runtime import Detector
from grace_edge.runtime import tensorrt_backend
from tests.fakes.cuda import Log, make_cudart, make_pycuda, pycuda_without_driver
from tests.fakes.tensorrt import make_tensorrt
from tests.helpers.fake_graph import MAX_DET, NAMES, fake_rows

HW = (48, 64)


@pytest.fixture(params=["10.3", "11.4"])
def fakes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Log:
    log = Log()
    pkg, drv = make_pycuda(log)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(request.param, log, hw=HW)[0])
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
    assert all(not stack for stack in fakes.stack.values()) and len(fakes.stack) > 1  # balanced, on many threads
    assert fakes.memory == {} and fakes.retained == 0 and fakes.leaked_detach == 0  # all freed, context released


def test_cuda_graph_enqueues_once_then_captures_then_launches(fakes: Log, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorrt_backend, "import_cuda_graph_api", lambda: make_cudart(fakes))
    batch = images(2)
    with Detector.open(write_engine(tmp_path / "g.engine"), cuda_graph=True) as det:
        for _ in range(3):
            for image, rows in zip(batch, det.detect_arrays(batch)):
                np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
    calls = [c for c in fakes.calls if c in ("execute_async_v3", "begin_capture", "end_capture", "graph_launch")]
    assert calls == ["execute_async_v3", "begin_capture", "execute_async_v3", "end_capture"] + ["graph_launch"] * 3
    assert fakes.count("graph_exec_destroy") == 1 and fakes.memory == {}


def test_cuda_graphs_of_several_batch_sizes_each_keep_their_shape(fakes: Log, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph replays what was captured: batch 2, then 3, then 2 again must not replay on a reshaped context."""
    monkeypatch.setattr(tensorrt_backend, "import_cuda_graph_api", lambda: make_cudart(fakes))
    frames = images(3)
    with Detector.open(write_engine(tmp_path / "g.engine"), cuda_graph=True) as det:
        for n in (2, 3, 2, 3, 1, 2):
            for image, rows in zip(frames[:n], det.detect_arrays(frames[:n])):
                np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
    assert fakes.count("begin_capture") == 3 and fakes.count("graph_launch") == 6
    assert fakes.count("create_execution_context") == 3  # one per captured batch size, each bound once
    assert fakes.count("set_input_shape") == 3 and fakes.count("graph_exec_destroy") == 3


def test_cuda_graph_without_cuda_python_is_a_clear_error(fakes: Log, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    with pytest.raises(BackendUnavailable, match="cuda-python"):
        Detector.open(write_engine(tmp_path / "g.engine"), cuda_graph=True)


def test_closing_on_another_thread_releases_the_primary_context(fakes: Log, tmp_path: Path) -> None:
    """pycuda's detach() off the retaining thread releases nothing; we release while current, on any thread."""
    det = Detector.open(write_engine(tmp_path / "t.engine"))
    det.detect_arrays(images(1))
    closer = threading.Thread(target=det.close)
    closer.start()
    closer.join()
    assert fakes.retained == 0 and fakes.leaked_detach == 0
    assert all(not stack for stack in fakes.stack.values()) and fakes.memory == {}


def test_cuda_that_cannot_initialise_is_backend_unavailable(fakes: Log, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(fakes.version, fakes, hw=HW, cuda_ok=False)[0])
    with pytest.raises(BackendUnavailable, match="could not create its Runtime.*CUDA did not initialise.*driver"):
        Detector.open(write_engine(tmp_path / "x.engine"))
    assert fakes.retained == 0 and all(not stack for stack in fakes.stack.values())


def test_pycuda_without_libcuda_is_not_called_missing(fakes: Log, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pycuda_without_driver(monkeypatch)
    with pytest.raises(BackendUnavailable) as info:
        Detector.open(write_engine(tmp_path / "x.engine"))
    assert "pycuda is installed but does not load" in str(info.value) and "libcuda.so.1" in str(info.value)
    assert "not installed" not in str(info.value)


def test_engine_errors(fakes: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = sys.modules["tensorrt"].__version__
    with pytest.raises(ArtifactError, match=f"{version} could not deserialise.*built with TensorRT 10.3.0.*rebuild"):
        Detector.open(write_engine(tmp_path / "old.engine", b"incompatible"))
    assert fakes.retained == 0 and all(not stack for stack in fakes.stack.values())
    foreign = make_tensorrt(fakes.version, fakes, hw=HW, names=("input", "output0", "count"))[0]
    monkeypatch.setitem(sys.modules, "tensorrt", foreign)
    with pytest.raises(ArtifactError, match="graph I/O is"):
        Detector.open(write_engine(tmp_path / "foreign_io.engine"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(BackendUnavailable, match="pycuda is not installed"):
        Detector.open(write_engine(tmp_path / "x.engine"))


@pytest.mark.parametrize("error", [ImportError, OSError])
def test_tensorrt_without_native_libraries_says_so(fakes: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   error: type) -> None:
    """The bindings import, libnvinfer does not: the error names that, with the loader's own words."""
    from tests.fakes.tensorrt import LIBNVINFER_MISSING, tensorrt_without_native_libs

    tensorrt_without_native_libs(monkeypatch, error)
    with pytest.raises(BackendUnavailable) as info:
        Detector.open(write_engine(tmp_path / "x.engine"))
    assert "native libraries do not load" in str(info.value) and LIBNVINFER_MISSING in str(info.value)
    assert "not installed" not in str(info.value)
