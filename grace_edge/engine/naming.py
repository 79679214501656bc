"""Artifact file names: model, precision, batch (and input size when not 640), then what it runs on.

``grace-s_int8_b1-8-16_trt10.3.0_orin.engine`` / ``grace-s_fp16_b1_onnxruntime-cpu.onnx``. An engine only runs
with the TensorRT version and GPU it was built for, so both are in its name.
"""

from __future__ import annotations

import re

DEFAULT_IMGSZ = 640
_VENDOR_WORDS = {"nvidia", "geforce", "tesla", "quadro", "jetson"}


def batch_tag(batch: tuple[int, int, int]) -> str:
    """``b4`` for a fixed batch of 4, ``b1-8-16`` for a min-opt-max range."""
    lo, opt, hi = batch
    return f"b{lo}" if lo == opt == hi else f"b{lo}-{opt}-{hi}"


def gpu_slug(name: str) -> str:
    """``NVIDIA GeForce RTX 4090`` -> ``rtx-4090``; ``Orin`` -> ``orin``."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w and w not in _VENDOR_WORDS]
    return "-".join(words) or "gpu"


def trt_tag(version: str) -> str:
    """``10.3.0.30`` -> ``trt10.3.0``."""
    return "trt" + ".".join(version.split(".")[:3])


def _stem(model: str, precision: str, batch: tuple[int, int, int], imgsz: int) -> str:
    size = "" if imgsz == DEFAULT_IMGSZ else f"_{imgsz}"
    return f"{model}_{precision}_{batch_tag(batch)}{size}"


def engine_name(model: str, precision: str, batch: tuple[int, int, int], imgsz: int, trt_version: str, gpu: str) -> str:
    return f"{_stem(model, precision, batch, imgsz)}_{trt_tag(trt_version)}_{gpu_slug(gpu)}.engine"


def cpu_model_name(model: str, precision: str, batch: tuple[int, int, int], imgsz: int) -> str:
    return f"{_stem(model, precision, batch, imgsz)}_onnxruntime-cpu.onnx"
