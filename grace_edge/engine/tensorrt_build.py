"""A thin TensorRT engine builder, written to the documented TensorRT 10.x / 11.x Python API.

Precision lives in the ONNX graph (FP16 tensors, explicit INT8 Q/DQ), so the network is created STRONGLY_TYPED and
no precision builder flag is ever set (TensorRT 11 removed BuilderFlag.FP16/INT8 and the INT8 calibrators).
``BuilderFlag.TF32``, on by default, is cleared: FP32 tensors (the whole FP32 engine, and box decode, NMS and
preprocessing in every engine) are computed in FP32, not with TF32's 10-bit mantissa.
``tensorrt`` is imported inside the functions: this module imports on machines without it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grace_edge.errors import ArtifactError, BackendUnavailable, InputError
from grace_edge.io import write_bytes
from grace_edge.runtime.cuda_context import create_tensorrt
from grace_edge.runtime.cuda_context import import_tensorrt
from grace_edge.runtime.trt_logging import set_level, tensorrt_logger

MIN_TRT_MAJOR = 10  # named-tensor API and strongly typed networks; JetPack 6.1+ ships 10.3 (6.0 shipped 8.6)


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.7"


@dataclass(frozen=True)
class EngineBuild:
    engine: bytes
    tensorrt_version: str
    timing_cache: Path | None  # the cache file written, None when none was (not asked, or TensorRT gave none)
    notes: tuple[str, ...] = ()  # what the user should know, e.g. a timing cache that was ignored


def tensorrt_version() -> str | None:
    """The installed TensorRT version, or None when it cannot be used (the TensorRT backend's ``problem()`` says why)."""
    try:
        return str(import_tensorrt().__version__)
    except BackendUnavailable:
        return None


def gpu_info() -> GpuInfo | None:
    """Name and compute capability of CUDA device 0 (pycuda, else cuda-python, else nvidia-smi); None if none."""
    for probe in (_gpu_from_pycuda, _gpu_from_cuda_python, _gpu_from_nvidia_smi):
        try:
            info = probe()
        except Exception:  # a missing driver or library raises many different things; try the next probe
            info = None
        if info is not None:
            return info
    return None


def _gpu_from_pycuda() -> GpuInfo | None:
    import pycuda.driver as cuda

    cuda.init()  # no context is created: name and capability are device attributes
    if cuda.Device.count() == 0:
        return None
    device = cuda.Device(0)
    major, minor = device.compute_capability()
    return GpuInfo(device.name(), f"{major}.{minor}")


def _gpu_from_cuda_python() -> GpuInfo | None:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # type: ignore[no-redef]
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or not count:
        return None
    err, prop = cudart.cudaGetDeviceProperties(0)
    if err != cudart.cudaError_t.cudaSuccess:
        return None
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    return GpuInfo(name.rstrip("\x00").strip(), f"{prop.major}.{prop.minor}")


def _gpu_from_nvidia_smi() -> GpuInfo | None:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader", "--id=0"],
        capture_output=True, text=True, timeout=20, check=True,
    ).stdout.strip()
    name, cc = (part.strip() for part in out.splitlines()[0].rsplit(",", 1))
    return GpuInfo(name, cc)


def _check_version(trt: Any) -> None:
    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_TRT_MAJOR:  # TRT 8/9 lack set_tensor_address/execute_async_v3 that the runtime uses
        raise BackendUnavailable(f"TensorRT {trt.__version__} is too old: grace-edge needs TensorRT >= 10 (JetPack 6.1+)")


def _parser_error(err: Any) -> str:
    """One parser error as text: node index, name and operator where this TensorRT reports them."""
    where = []
    for label, attr in (("node", "node"), ("", "node_name"), ("op", "node_operator")):
        value = getattr(err, attr, None)
        value = value() if callable(value) else value
        if value not in (None, "", -1):
            where.append(f"{label} {value}".strip())
    desc = err.desc() if callable(getattr(err, "desc", None)) else str(err)
    return (f"[{', '.join(where)}] " if where else "") + str(desc)


def build_engine(
    onnx_path: str | Path,
    *,
    precision: str,
    batch: tuple[int, int, int] = (1, 1, 1),
    workspace_gib: float | None = None,
    dla_core: int | None = None,
    timing_cache: str | Path | None = None,
    verbose: bool = False,
) -> EngineBuild:
    """Parse ``onnx_path`` into a strongly typed network and build a serialized engine for this GPU."""
    trt = import_tensorrt()
    _check_version(trt)
    onnx_path = Path(onnx_path)
    if verbose:
        set_level("verbose")  # the process's one logger: TensorRT ignores any logger after the first
    logger = tensorrt_logger(trt)
    builder = create_tensorrt(trt.Builder, logger)
    # TRT 10: STRONGLY_TYPED makes the ONNX tensor types binding. TRT 11: always strongly typed, flag deprecated.
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if strongly_typed is None else 1 << int(strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ArtifactError(
            f"{onnx_path}: TensorRT {trt.__version__} cannot parse this ONNX model: " + "; ".join(errors or ["no detail"])
        )

    config = builder.create_builder_config()
    tf32 = getattr(trt.BuilderFlag, "TF32", None)
    if tf32 is not None:
        config.clear_flag(tf32)  # FP32 means FP32 (TensorRT enables TF32 by default)
    if workspace_gib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    _set_batch_profile(builder, network, config, batch, onnx_path)
    if dla_core is not None:
        _use_dla(builder, config, trt, dla_core, precision)
    notes: list[str] = []
    cache_used = timing_cache is not None and _use_timing_cache(config, Path(timing_cache), notes)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ArtifactError(f"{onnx_path}: TensorRT {trt.__version__} failed to build an engine; rerun with --verbose")
    engine = bytes(serialized)
    written = _save_timing_cache(config, Path(timing_cache), notes) if cache_used else None
    return EngineBuild(engine, str(trt.__version__), written, tuple(notes))


def _use_timing_cache(config: Any, path: Path, notes: list[str]) -> bool:
    """Give the builder the cache in ``path`` (empty if there is none yet); False if TensorRT refuses it.

    ignore_mismatch=False: a cache made by another GPU or TensorRT version is refused (its timings do not apply
    here) and ``set_timing_cache`` returns False. The build then runs without a cache and leaves the file alone.
    """
    if config.set_timing_cache(config.create_timing_cache(path.read_bytes() if path.is_file() else b""), False):
        return True
    notes.append(f"timing cache {path} was made on another GPU or TensorRT version: ignored and left as it was "
                 "(the engine was built without it; give --timing-cache a new file to keep one for this GPU)")
    return False


def _save_timing_cache(config: Any, path: Path, notes: list[str]) -> Path | None:
    """Write the builder's timing cache back; the engine is never lost for a cache TensorRT does not return."""
    cache = config.get_timing_cache()
    if cache is None:
        notes.append(f"TensorRT returned no timing cache after the build: {path} was not updated")
        return None
    write_bytes(path, bytes(cache.serialize()))
    return path


def _set_batch_profile(builder: Any, network: Any, config: Any, batch: tuple[int, int, int], path: Path) -> None:
    """A dynamic batch axis gets one optimisation profile (min, opt, max); a fixed one must match ``batch``."""
    lo, opt, hi = batch
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    dynamic = [t for t in inputs if tuple(t.shape)[0] == -1]
    if not dynamic:
        fixed = {tuple(t.shape)[0] for t in inputs}
        if fixed != {lo} or lo != hi:
            raise InputError(f"{path}: the ONNX batch is fixed at {sorted(fixed)}; --batch {lo}:{opt}:{hi} needs a dynamic-batch export")
        return
    profile = builder.create_optimization_profile()
    for t in dynamic:
        rest = tuple(tuple(t.shape)[1:])
        if any(d < 0 for d in rest):
            raise InputError(f"{path}: input {t.name} has dynamic sizes besides the batch: {tuple(t.shape)}")
        profile.set_shape(t.name, (lo, *rest), (opt, *rest), (hi, *rest))
    config.add_optimization_profile(profile)


def _use_dla(builder: Any, config: Any, trt: Any, core: int, precision: str) -> None:
    if precision == "fp32":  # DLA has no FP32 kernels; in a strongly typed network precision comes from the graph
        raise InputError("--dla needs --fp16 or --int8: DLA runs FP16/INT8 only")
    cores = int(getattr(builder, "num_DLA_cores", 0))
    if cores == 0:
        raise BackendUnavailable("--dla: this machine has no DLA cores (DLA exists on Jetson AGX Orin / Xavier)")
    if not 0 <= core < cores:
        raise InputError(f"--dla {core}: this machine has DLA cores 0-{cores - 1}")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers DLA cannot run go to the GPU instead of failing
