"""What ``grace-edge build`` can make: one table of targets and one of precisions (Ultralytics' ``export_formats()``).

A target is what the artifact runs on: its file suffix, the registered backend whose ``build_artifact`` makes the
file (:mod:`grace_edge.runtime.backends`), the INT8 layout it wants, and the build flags it honours, so the build has
no per-backend branches and can say which flags a target ignores. A precision is how the graph is reduced and whether
the accuracy gate must pass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from grace_edge.errors import BackendUnavailable, InputError


@dataclass(frozen=True)
class Target:
    name: str
    backend: str  # the registered backend that builds (and first runs) it
    suffix: str
    device: str  # "gpu" or "cpu"
    int8_layout: str  # "tensorrt" (symmetric Q/DQ on conv inputs, or ModelOpt's) or "cpu" (integer kernels)
    flags: tuple[str, ...]  # build flags only this target uses


@dataclass(frozen=True)
class Precision:
    name: str
    flag: str
    reduced: bool  # changes the numbers: the accuracy gate compares it with FP32
    needs_data: bool  # needs --data (INT8 calibrates on its train split)


TARGETS = {t.name: t for t in (
    Target("tensorrt", "tensorrt", ".engine", "gpu", "tensorrt", ("--workspace", "--dla", "--timing-cache")),
    Target("cpu", "onnxruntime", ".onnx", "cpu", "cpu", ()),
)}
PRECISIONS = {p.name: p for p in (
    Precision("fp32", "--fp32", reduced=False, needs_data=False),
    Precision("fp16", "--fp16", reduced=True, needs_data=False),
    Precision("int8", "--int8", reduced=True, needs_data=True),
)}
CPU_FALLBACK = "no TensorRT/GPU found: built the ONNX Runtime CPU model instead"


def precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise InputError(f"precision {name!r}: choose {', '.join(p.flag for p in PRECISIONS.values())}")
    return PRECISIONS[name]


@dataclass(frozen=True)
class Choice:
    """The target a build makes here, the GPU it builds for (TensorRT), and why (a note for the log)."""

    target: Target
    gpu: Any = None  # grace_edge.engine.tensorrt_build.GpuInfo
    reason: str = ""

    def note(self) -> str:
        if self.target.device == "gpu":
            return ""
        return f"built the CPU model ({self.reason})" if self.reason.startswith("--backend") \
            else f"{CPU_FALLBACK} ({self.reason})"


def choose_backend(require_tensorrt: bool) -> tuple[str, Any, str]:
    """("tensorrt", GpuInfo, "") when TensorRT and a CUDA GPU are here, else ("onnxruntime", None, reason)."""
    from grace_edge.engine.tensorrt_build import gpu_info
    from grace_edge.runtime.backends import BY_NAME

    problem = BY_NAME["tensorrt"].load().problem()  # "not installed", or the native libraries' own load error
    gpu = gpu_info() if problem is None else None
    if problem is None and gpu:
        return "tensorrt", gpu, ""
    reason = problem or "no CUDA GPU was found"
    if require_tensorrt:
        raise BackendUnavailable(f"--require-tensorrt: {reason}; build on a machine with an NVIDIA GPU and TensorRT >= 10")
    return "onnxruntime", None, reason


def choose_target(backend: str, require_tensorrt: bool, probe: Callable[[bool], tuple[str, Any, str]] = choose_backend
                  ) -> Choice:
    """``--backend onnxruntime/openvino`` ask for the CPU model, ``tensorrt`` for an engine, ``auto`` for an engine
    where TensorRT and a CUDA GPU are here (``probe`` looks), else the CPU model."""
    from grace_edge.runtime.backends import BACKEND_CHOICES, BY_NAME

    if backend not in BACKEND_CHOICES:
        raise InputError(f"--backend {backend!r}: choose one of {', '.join(BACKEND_CHOICES)}")
    if backend != "auto" and BY_NAME[backend].device == "cpu":
        if require_tensorrt:
            raise InputError(f"--require-tensorrt contradicts --backend {backend} (a CPU model)")
        return Choice(TARGETS["cpu"], None, f"--backend {backend}")
    found, gpu, reason = probe(require_tensorrt or backend == "tensorrt")
    return Choice(TARGETS["tensorrt"] if found == "tensorrt" else TARGETS["cpu"], gpu, reason)


def ignored_flags(target: Target, given: dict[str, Any]) -> list[str]:
    """The build flags set (``given``: flag -> value, None when unset) that ``target`` does not use."""
    return [flag for flag, value in given.items() if value is not None and flag not in target.flags]
