"""What machine a figure was measured on (bench, val reports, doctor): CPU, load, library versions, GPU,
TensorRT/CUDA, JetPack and power mode.

Every probe is optional and failure-tolerant: a missing tool, file or package gives ``None`` (or is left out),
never an exception, so ``collect()`` is safe on a laptop, a CI runner, an RTX box and a Jetson alike.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

_PROBE_TIMEOUT_S = 5.0


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # a probe must never break a benchmark
        return None


def _run(cmd: list[str]) -> str | None:
    """stdout of ``cmd`` if the tool exists and succeeds within a few seconds, else None."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _read(path: str) -> str | None:
    return _safe(lambda: Path(path).read_text(errors="replace").strip() or None)


def _version(*dists: str, module: str | None = None) -> str | None:
    """Installed version of the first distribution found, else ``module.__version__``; never raises.

    Reading package metadata imports nothing (Ultralytics must not be imported before it is configured).
    """
    for dist in dists:
        found = _safe(lambda: importlib.metadata.version(dist))
        if found:
            return found
    return _safe(lambda: str(importlib.import_module(module).__version__)) if module else None


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (x86 'model name', Arm 'Hardware'/'Model'), else platform's."""
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


# CPU features that decide ONNX Runtime's INT8/FP16 speed (x86 VNNI/AMX, Arm dot-product/int8 matmul/fp16).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
               "asimddp", "i8mm", "fphp", "bf16")


def cpu_features() -> list[str]:
    """Which of ``SPEED_FLAGS`` the CPU reports in /proc/cpuinfo (x86 'flags', Arm 'Features')."""
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.split(":")[0].strip() in ("flags", "Features") and ":" in line:
            present = set(line.split(":", 1)[1].split())
            return [f for f in SPEED_FLAGS if f in present]
    return []


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (Unix), else None."""
    return _safe(lambda: [round(v, 2) for v in os.getloadavg()])


def busy_note(load_before: list[float] | None, load_after: list[float] | None) -> str | None:
    """A warning for the report when the 1-minute load exceeded the usable cores while timing, else None."""
    cores = _safe(lambda: len(os.sched_getaffinity(0))) or os.cpu_count() or 1
    peak = max((v[0] for v in (load_before, load_after) if v), default=0.0)
    if peak <= cores:
        return None
    return (f"BUSY MACHINE: 1-minute load average reached {peak:.1f} on {cores} cores while timing. Absolute times are "
            "inflated, and PyTorch (OpenMP threads) slows down far more than ONNX Runtime under oversubscription, so "
            "ratios against PyTorch are inflated too; rerun on a quiet machine for figures to quote.")


def cpu_info() -> dict[str, Any]:
    affinity = _safe(lambda: len(os.sched_getaffinity(0)))
    return {
        "model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": affinity,
        "machine": platform.machine(),
        "features": _safe(cpu_features),
    }


def library_versions() -> dict[str, Any]:
    """Versions of the packages that decide speed; ORT's providers; torch's threads and CUDA build."""
    info: dict[str, Any] = {name: _version(name) for name in ("numpy", "onnxruntime", "openvino", "torch", "ultralytics")}
    info["onnxruntime"] = info["onnxruntime"] or _version("onnxruntime-gpu", module="onnxruntime")
    info["opencv"] = _version("opencv-python-headless", "opencv-python", module="cv2")
    info["onnxruntime_providers"] = _safe(lambda: importlib.import_module("onnxruntime").get_available_providers())
    torch = sys.modules.get("torch")  # only if already loaded: importing torch costs seconds on a Jetson
    if torch is not None:
        info["torch_threads"] = _safe(torch.get_num_threads)
        info["torch_cuda"] = _safe(lambda: torch.version.cuda)
    return info


def gpu_info() -> dict[str, Any]:
    """TensorRT, CUDA driver/runtime and GPU name when present (pycuda first, nvidia-smi as a fallback)."""
    info: dict[str, Any] = {"tensorrt": _version("tensorrt", module="tensorrt"), "pycuda": _version("pycuda")}
    cuda = _safe(lambda: importlib.import_module("pycuda.driver"))
    if cuda is not None and _safe(cuda.init) is None and (_safe(cuda.Device.count) or 0) > 0:
        dev = cuda.Device(0)
        info["gpu"] = _safe(dev.name)
        info["compute_capability"] = _safe(lambda: ".".join(map(str, dev.compute_capability())))
        info["cuda_driver"] = _safe(lambda: _cuda_version(cuda.get_driver_version()))
        info["cuda_runtime_built_with"] = _safe(lambda: ".".join(map(str, cuda.get_version())))
    smi = _run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.mem,power.limit",
                "--format=csv,noheader"])
    if smi:
        info["nvidia_smi"] = smi.splitlines()
    return {k: v for k, v in info.items() if v is not None}


def _cuda_version(code: int) -> str:
    return f"{code // 1000}.{code % 1000 // 10}"


def jetson_info() -> dict[str, Any]:
    """L4T/JetPack release line, nvpmodel power mode and jetson_clocks state, on Jetson only."""
    info = {
        "l4t_release": _read("/etc/nv_tegra_release"),
        "model": _read("/proc/device-tree/model"),
        "nvpmodel": _run(["nvpmodel", "-q"]),
        "jetson_clocks": _run(["jetson_clocks", "--show"]),  # needs root; None when not allowed
    }
    if info["model"]:
        info["model"] = info["model"].rstrip("\x00")
    return {k: v for k, v in info.items() if v}


def collect() -> dict[str, Any]:
    """Everything above in one dict for a benchmark's JSON; never raises."""
    return {
        "platform": _safe(platform.platform),
        "python": platform.python_version(),
        "cpu": _safe(cpu_info) or {},
        "load_average": load_average(),
        "libraries": _safe(library_versions) or {},
        "gpu": _safe(gpu_info) or {},
        "jetson": _safe(jetson_info) or {},
        "grace_edge": _version("grace-edge", module="grace_edge"),
    }


collect_sysinfo = collect  # the name ``grace_edge.bench`` exports (lazily, from here)
