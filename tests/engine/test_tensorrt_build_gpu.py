"""Real TensorRT builds on a GPU (marker ``gpu``: skipped cleanly without TensorRT, pycuda and a CUDA device).

Each precision's graph is built into a strongly typed engine and run through the runtime's Detector next to ONNX
Runtime on the very same ONNX; detections must agree. This is the only proof of the GPU path; the fake-TensorRT
tests only check our calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.data]


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    return export_onnx(build_model("grace-n"), tmp_path_factory.mktemp("gpu") / "grace-n.onnx", imgsz=64)


def _val_images(data_yaml: Path, n: int = 4) -> list[np.ndarray]:
    import cv2

    from grace_edge.data.calibration import pick_images, split_images

    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in pick_images(split_images(data_yaml, "val"), n)]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime(precision: str, fp32_onnx: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    from grace_edge.artifact import pack_engine, read_onnx_meta, unpack_engine
    from grace_edge.doctor.selftest import compare_detections
    from grace_edge.engine.tensorrt_build import build_engine, gpu_info
    from grace_edge.data.calibration import calibration_images
    from grace_edge.engine.precision import convert_fp16
    from grace_edge.engine.quantize import quantize_int8
    from grace_edge.io import write_bytes
    from grace_edge.runtime import Detector

    if precision == "fp16":
        graph = convert_fp16(fp32_onnx, tmp_path / "m.onnx")
    elif precision == "int8":
        graph = quantize_int8(fp32_onnx, tmp_path / "m.onnx", calibration_images(tiny_dataset, 4)).path
    else:
        graph = fp32_onnx
    built = build_engine(graph, precision=precision, timing_cache=tmp_path / "timing.cache")
    assert (tmp_path / "timing.cache").stat().st_size > 0
    meta = read_onnx_meta(graph)
    gpu = gpu_info()
    meta.backend = {"tensorrt": built.tensorrt_version, "gpu": gpu.name, "compute_capability": gpu.compute_capability}
    engine = write_bytes(tmp_path / "m.engine", pack_engine(meta, built.engine))
    assert unpack_engine(engine)[0].precision == precision

    images = _val_images(tiny_dataset)
    with Detector.open(engine, conf=0.001) as trt_det, Detector.open(graph, conf=0.001) as ort_det:
        assert trt_det.backend == "tensorrt" and ort_det.backend == "onnxruntime"
        # the doctor's comparison: counts within max(2, 10 %), top-20 scores within SCORE_ATOL[precision]
        assert compare_detections(trt_det.detect_arrays(images), ort_det.detect_arrays(images), precision) == []


def test_build_command_names_and_labels_the_engine(tmp_path: Path) -> None:
    from grace_edge.artifact import unpack_engine
    from grace_edge.engine.pipeline import BuildOptions, build
    from grace_edge.engine.tensorrt_build import gpu_info, tensorrt_version

    report = build(BuildOptions(precision="fp16", model="grace-n", imgsz=64, batch=(1, 2, 4), require_tensorrt=True,
                                out_dir=tmp_path))
    assert report.backend == "tensorrt" and report.path.parent == tmp_path
    name = report.path.name
    assert name.startswith("grace-n_fp16_b1-2-4_64_trt") and name.endswith(".engine")
    meta, _ = unpack_engine(report.path)
    gpu = gpu_info()
    assert meta.batch == (1, 2, 4) and meta.backend["gpu"] == gpu.name
    assert meta.backend["compute_capability"] == gpu.compute_capability
    assert meta.backend["tensorrt"] == tensorrt_version()
