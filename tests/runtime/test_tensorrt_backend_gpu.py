"""TensorRT backend on a real GPU: build tiny engines from our ONNX graphs and compare with ONNX Runtime.

Marked ``gpu``: skipped cleanly unless TensorRT, pycuda and a CUDA device are present (tests/conftest.py).
The engines are built and wrapped with grace-edge's header by grace_edge.doctor.selftest.build_packed_engine, the
code `grace-edge doctor` runs on a user's GPU box (one copy of the GPU checks for both).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.fake_graph import fake_rows, make_fake_onnx

from grace_edge.doctor.selftest import build_packed_engine, open_close_from_threads, run_selftest
from grace_edge.runtime import Detector

pytestmark = pytest.mark.gpu


def build_engine(onnx_path: Path, out: Path) -> Path:
    """FP32 engine for the ONNX's batch range, wrapped with grace-edge's header."""
    return build_packed_engine(onnx_path, out, precision="fp32")


@pytest.fixture(scope="module")
def fake_engine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gpu")
    onnx_path = make_fake_onnx(folder / "fake.onnx")
    return onnx_path, build_engine(onnx_path, folder / "fake.engine")


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, size=(48, 64), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_engine_equals_onnxruntime_on_the_fake_graph(fake_engine, cuda_graph: bool) -> None:
    if cuda_graph:
        pytest.importorskip("cuda.bindings.runtime")
    onnx_path, engine_path = fake_engine
    images = frames(11)
    with Detector.open(engine_path, cuda_graph=cuda_graph, workers=2) as trt_det, Detector.open(onnx_path) as ort_det:
        assert trt_det.backend == "tensorrt"
        for _ in range(2):  # second round: replayed graphs / reused buffers
            got = trt_det.detect_arrays(images)
            for image, rows, ref in zip(images, got, ort_det.detect_arrays(images)):
                np.testing.assert_allclose(rows, ref, atol=1e-4)
                np.testing.assert_allclose(rows, fake_rows(image, 0.25), atol=1e-4)
        out, times = trt_det.profile(images[:3])
        assert all(times[k] > 0 for k in ("h2d", "compute", "d2h"))


def test_engine_from_many_threads_and_submit(fake_engine) -> None:
    _, engine_path = fake_engine
    images = frames(24)
    with Detector.open(engine_path, workers=3) as det:
        reference = [det.detect_arrays(im)[0] for im in images]
        results: dict[int, np.ndarray] = {}
        threads = [threading.Thread(target=lambda t=t: results.update(
            {i: det.detect_arrays(images[i])[0] for i in range(t, 24, 4)})) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        futures = [det.submit(im) for im in images]
        for i, fut in enumerate(futures):
            np.testing.assert_allclose([d.box for d in fut.result()[0]], reference[i][:, :4], atol=1e-5)
    assert len(results) == 24
    for i, rows in results.items():
        np.testing.assert_array_equal(rows, reference[i])


@pytest.mark.data
def test_engine_of_a_real_export_agrees_with_onnxruntime(tmp_path: Path, neu_det: Path) -> None:
    import cv2
    from tests.helpers.models import IMAGES, seeded_model, unmatched

    from grace_edge.export.onnx_export import export_onnx

    onnx_path = export_onnx(seeded_model(), tmp_path / "raw.onnx", imgsz=96, raw_input=(200, 200, 1),
                            dynamic_batch=True, simplify=True, nms_iters=64)
    engine_path = build_engine(onnx_path, tmp_path / "raw.engine")
    images = [cv2.imread(str(neu_det / "IMAGES" / f"{n}.jpg"), cv2.IMREAD_GRAYSCALE) for n in IMAGES]
    with Detector.open(engine_path, conf=0.1) as trt_det, Detector.open(onnx_path, conf=0.1) as ort_det:
        for name, a, b in zip(IMAGES, trt_det.detect_arrays(images), ort_det.detect_arrays(images)):
            keep = b[:, 4] > 0.1 + 1e-3  # rows near the host threshold may fall on either side
            # GPU FP32 (TF32 may be on) vs CPU kernels through a random net: 10x the CPU-vs-PyTorch tolerance
            assert len(a) >= keep.sum() and not unmatched(b[keep], a, score_tol=1e-3, box_tol=0.5), name


def test_doctor_selftest_passes_on_this_gpu(tmp_path: Path) -> None:
    """The self-test `grace-edge doctor` runs: every feature of our graphs, built, compared, timed, two threads."""
    results = run_selftest(tmp_path, log=lambda text: None)
    assert [r.name for r in results] == ["conformance", "engine build", "vs ONNX Runtime", "timing", "two threads"]
    assert all(r.ok for r in results), [f"{r.name}: {r.detail}" for r in results if not r.ok]


def test_detectors_open_and_close_from_two_threads(fake_engine) -> None:
    result = open_close_from_threads(fake_engine[1], [np.zeros((48, 64), np.uint8)] * 2)
    assert result.ok, result.detail
