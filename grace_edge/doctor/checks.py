"""What ``grace-edge doctor`` looks at on this machine: versions, GPU, Jetson facts. Each probe returns one
:class:`Check` and never raises: a missing tool or library is a finding, not a traceback.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grace_edge.errors import GraceEdgeError

OK, FAIL, MISSING, INFO = "ok", "FAIL", "missing", "info"

# Exit codes of `grace-edge doctor` (2 is the CLI's own "bad input" code).
EXIT_OK = 0  # every check passed, the GPU self-test included
EXIT_FAILED = 1  # at least one check failed: one line each, with a hint
EXIT_NO_GPU = 3  # no NVIDIA GPU found: only the CPU-side checks ran, nothing failed

# L4T release line -> JetPack (NVIDIA's JetPack archive): the TensorRT/CUDA that a JetPack ships.
JETPACK_OF_L4T = {
    "36.4": "6.1/6.2 (TensorRT 10.3, CUDA 12.6)",
    "36.": "6.0 (TensorRT 8.6, CUDA 12.2: too old for grace-edge's engines; upgrade to JetPack 6.1 or later)",
    "35.": "5.x (TensorRT 8.5, CUDA 11.4: too old for grace-edge's engines; upgrade to JetPack 6.1 or later)",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, FAIL, MISSING or INFO
    detail: str
    hint: str = ""

    def line(self) -> str:
        text = f"  {self.status:<8}{self.name:<14}{self.detail}"
        return text + (f"\n  {'':<22}hint: {self.hint}" if self.hint and self.status == FAIL else "")


def python_check() -> Check:
    return Check("python", INFO, f"{platform.python_version()} on {platform.system()} {platform.machine()}")


def driver_check() -> Check:
    """The NVIDIA driver: nvidia-smi's answer (grace_edge.sysinfo probes it), else the kernel module's."""
    from grace_edge.sysinfo import gpu_info

    smi = gpu_info().get("nvidia_smi")
    if smi:
        return Check("driver", OK, f"NVIDIA {smi[0].split(',')[1].strip()}")
    proc = Path("/proc/driver/nvidia/version")
    if proc.is_file():
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", proc.read_text(errors="replace"))
        return Check("driver", OK, f"NVIDIA {match.group(1) if match else '(version unreadable)'}")
    return Check("driver", MISSING, "no NVIDIA driver found (no nvidia-smi, no /proc/driver/nvidia/version)")


def cuda_check() -> Check:
    """CUDA versions as cuda-python sees them: what the driver supports, and the runtime library it loads."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[no-redef]  # cuda-python < 12.6
        except ImportError:
            return Check("CUDA", MISSING, "cuda-python is not installed, so the CUDA versions were not read")
    versions = {}
    for label, call in (("driver", cudart.cudaDriverGetVersion), ("runtime", cudart.cudaRuntimeGetVersion)):
        err, value = call()
        if int(err) == 0 and value:
            versions[label] = f"{value // 1000}.{value % 1000 // 10}"
    runtime = f"runtime library {versions['runtime']}" if "runtime" in versions else "no runtime library"
    if "driver" not in versions:
        return Check("CUDA", MISSING, f"no CUDA driver answered; {runtime}")
    return Check("CUDA", OK, f"driver supports CUDA {versions['driver']}; {runtime}")


def tensorrt_check() -> Check:
    from grace_edge.runtime.cuda_context import import_tensorrt

    try:
        trt = import_tensorrt()
    except GraceEdgeError as e:  # "not installed", or the bindings are there and libnvinfer is not
        if "not installed" in str(e):
            return Check("TensorRT", MISSING, str(e))
        return Check("TensorRT", FAIL, str(e),
                     "install the matching tensorrt-cuXX-libs, or on a Jetson use JetPack's TensorRT (see README)")
    from grace_edge.engine.tensorrt_build import MIN_TRT_MAJOR

    version = str(trt.__version__)
    if int(version.split(".")[0]) < MIN_TRT_MAJOR:
        return Check("TensorRT", FAIL, f"{version} is too old: grace-edge needs TensorRT >= {MIN_TRT_MAJOR}",
                     "JetPack 6.1+ on a Jetson (TensorRT 10.3); elsewhere pip install 'grace-edge[tensorrt-cu12]'")
    return Check("TensorRT", OK, version)


def pycuda_check() -> Check:
    from grace_edge.runtime.cuda_context import import_pycuda

    try:
        import_pycuda()
        import pycuda
    except GraceEdgeError as e:
        return Check("pycuda", MISSING if "not installed" in str(e) else FAIL, str(e),
                     "install the NVIDIA driver (libcuda.so.1) or run on the GPU machine")
    return Check("pycuda", OK, str(getattr(pycuda, "VERSION_TEXT", "?")))


def cuda_python_check() -> Check:
    try:
        import cuda.bindings as bindings
    except ImportError:
        try:
            from cuda import cudart  # noqa: F401
        except ImportError:
            return Check("cuda-python", MISSING, "not installed (needed only for cuda_graph=True)")
        return Check("cuda-python", FAIL, "only the old cuda.cudart module: cuda_graph=True needs cuda.bindings",
                     "pip install 'cuda-python>=12.6,<13' (CUDA 12) or 'cuda-python>=13,<14' (CUDA 13)")
    return Check("cuda-python", OK, f"cuda.bindings {getattr(bindings, '__version__', '?')}")


def onnxruntime_check() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as e:
        return Check("ONNX Runtime", FAIL, f"not importable ({e})", "pip install onnxruntime (a grace-edge dependency)")
    return Check("ONNX Runtime", OK, f"{ort.__version__} ({', '.join(ort.get_available_providers())})")


def runtime_settings_check() -> Check:
    """The TensorRT logger, streams and events this process runs with (so a GPU log can be read against them)."""
    from grace_edge.runtime import cuda_streams, trt_logging

    return Check("TRT settings", INFO, f"{trt_logging.describe()}; {cuda_streams.describe()}")


def gpu_check() -> Check:
    from grace_edge.engine.tensorrt_build import gpu_info

    gpu = gpu_info()
    if gpu is None:
        return Check("GPU", MISSING, "no NVIDIA GPU found")
    return Check("GPU", OK, f"{gpu.name}, compute capability {gpu.compute_capability}")


def jetson_checks() -> list[Check]:
    """JetPack (from /etc/nv_tegra_release) and power mode (nvpmodel -q), read by grace_edge.sysinfo; Jetson only."""
    from grace_edge import sysinfo

    info = sysinfo.jetson_info()
    if not info.get("l4t_release"):
        return []
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", info["l4t_release"])
    l4t = f"{match.group(1)}.{match.group(2)}" if match else "?"
    jetpack = next((jp for prefix, jp in JETPACK_OF_L4T.items() if l4t.startswith(prefix)), "unknown JetPack")
    checks = [Check("JetPack", INFO, f"L4T R{l4t}: JetPack {jetpack}" + (f" on {info['model']}" if info.get("model") else ""))]
    mode = re.search(r"NV Power Mode:\s*(.+)", info.get("nvpmodel") or "")
    checks.append(Check("power mode", INFO, (mode.group(1).strip() if mode else "nvpmodel not found or not readable")
                        + " (timings depend on it: 'sudo nvpmodel -m 0' and 'sudo jetson_clocks' give the maximum)"))
    return checks


ENVIRONMENT: tuple[Callable[[], Check], ...] = (
    python_check, driver_check, cuda_check, gpu_check, tensorrt_check, pycuda_check, cuda_python_check,
    onnxruntime_check, runtime_settings_check,
)


def environment() -> list[Check]:
    """Every environment probe, in print order; a probe that raises becomes a FAIL line, not a traceback."""
    checks = []
    for probe in ENVIRONMENT:
        try:
            checks.append(probe())
        except Exception as e:  # a broken install raises anything; report it and keep going
            name = probe.__name__.removesuffix("_check")
            checks.append(Check(name, FAIL, f"the probe raised {type(e).__name__}: {e}", "reinstall that package"))
    return checks + jetson_checks()


def doctor(device: str = "auto", selftest: bool = True, work: Path | None = None,
           out: Callable[[str], None] = print) -> int:
    """Print every check, run the GPU self-test when a GPU is there; return the exit code (EXIT_*)."""
    import tempfile

    out("grace-edge doctor: this machine")
    checks = environment()
    for check in checks:
        out(check.line())
    failures = [c for c in checks if c.status == FAIL]
    has_gpu = any(c.name == "GPU" and c.status == OK for c in checks)
    if has_gpu:
        failures += [c for c in checks if c.name in ("TensorRT", "pycuda") and c.status == MISSING]
    gpu_steps = "engine build, engine vs ONNX Runtime, timing, two-thread open/close, DLA build (on an Orin)"
    if not has_gpu:
        out(f"\nchecked: versions and packages above. NOT checked (no NVIDIA GPU found): {gpu_steps}.")
        out("Run 'grace-edge doctor' on the GPU machine (Jetson or RTX) for the self-test.")
    elif failures or not selftest:
        out(f"\nNOT checked: {gpu_steps} ({'--no-selftest' if not selftest else 'fix the failures above first'}).")
    else:
        from grace_edge.doctor.selftest import run_selftest

        out("\nself-test on the GPU:")
        with tempfile.TemporaryDirectory(prefix="grace-doctor-", dir=work) as tmp:
            for result in run_selftest(Path(tmp), log=lambda text: out(f"  ... {text}"), device=device):
                status = INFO if result.info else OK if result.ok else FAIL
                check = Check(result.name, status, result.detail, result.hint)
                out(check.line())
                failures += [] if status != FAIL else [check]
    if failures:
        out(f"\n{len(failures)} problem(s):")
        for check in failures:
            hint = check.hint or ("pip install 'grace-edge[tensorrt-cu12]' (CUDA 12, JetPack 6.1+) or "
                                  "'grace-edge[tensorrt-cu13]' (CUDA 13); on a Jetson see the README")
            out(f"  {check.name}: {check.detail} -- hint: {hint}")
        return EXIT_FAILED
    if not has_gpu:
        out(f"\nno NVIDIA GPU found: exit code {EXIT_NO_GPU} (CPU-side checks passed; the GPU path is unchecked)")
        return EXIT_NO_GPU
    out("\nall checks passed")
    return EXIT_OK
