"""Artifact names carry model, precision, batch, input size (when not 640) and the runtime they were built for."""

from __future__ import annotations

from grace_edge.engine.naming import batch_tag, cpu_model_name, engine_name, gpu_slug, trt_tag


def test_engine_name_matches_the_documented_form() -> None:
    assert engine_name("grace-s", "int8", (1, 8, 16), 640, "10.3.0", "Orin") == "grace-s_int8_b1-8-16_trt10.3.0_orin.engine"
    assert engine_name("grace-n", "fp16", (4, 4, 4), 320, "10.13.3.9", "NVIDIA GeForce RTX 4090") == (
        "grace-n_fp16_b4_320_trt10.13.3_rtx-4090.engine"
    )


def test_cpu_model_name() -> None:
    assert cpu_model_name("grace-s", "int8", (1, 1, 1), 640) == "grace-s_int8_b1_onnxruntime-cpu.onnx"
    assert cpu_model_name("yolo11n", "fp32", (1, 4, 32), 64) == "yolo11n_fp32_b1-4-32_64_onnxruntime-cpu.onnx"


def test_parts() -> None:
    assert batch_tag((2, 2, 2)) == "b2" and batch_tag((1, 2, 2)) == "b1-2-2"
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"
    assert gpu_slug("Tesla T4") == "t4" and gpu_slug("???") == "gpu"
    assert trt_tag("11.4.1") == "trt11.4.1"
