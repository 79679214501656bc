"""FAKE ``tensorrt`` modules, one per release line we target: 10.3 (JetPack 6.1+) and 11.4 (the ``tensorrt`` wheel today).

Each offers only names that exist in the real version it stands for, with the real enum values and parameter names
(checked by tests/fakes/test_fakes_match_real_api.py against tests/fakes/api_surface/tensorrt-*.json):
- 10.3: ``BuilderFlag.FP16/INT8/TF32/GPU_FALLBACK``; ``NetworkDefinitionCreationFlag.STRONGLY_TYPED = 1``.
- 11.4: no ``BuilderFlag.FP16/INT8`` and no INT8 calibrators (precision lives in the ONNX);
  ``NetworkDefinitionCreationFlag.STRONGLY_TYPED = 0`` still exists but is deprecated and ignored: every network is
  strongly typed. ``BuilderFlag.TF32`` exists in both and is ON by default in a new builder config, as in TensorRT.

The builder side records what our code asks; the runtime side computes what tests/helpers/fake_graph.py's graph
computes, reading and writing the fake pycuda "device memory" (tests/fakes/cuda.py), and honours CUDA-graph capture:
work enqueued while the cudart fake captures is replayed by each launch, and a replay on an execution context whose
input shape changed since the capture fails, as TensorRT requires a recapture then.
Like the real bindings without a usable CUDA driver, ``Builder``/``Runtime`` can be made to raise
``TypeError: pybind11::init(): factory function returned nullptr``.
The one-logger rule: TensorRT keeps the first ILogger it is given for the whole process (NVIDIA's ILogger docs;
NVIDIA/TensorRT issue 1475), so each fake module stands for one process: ``Builder``, ``OnnxParser`` and ``Runtime``
fail the test when handed a second, different logger, or anything that is not an ``ILogger``. The builder writes a
verbose and a warning line through the logger it keeps, as TensorRT does. These fakes prove nothing about the GPU
path.
"""

from __future__ import annotations

import enum
import importlib.abc
import sys
import types
from typing import Any, Sequence

import numpy as np

from tests.fakes.cuda import Log
from tests.helpers.fake_graph import MAX_DET, ROWS, SHIFT, VALID

VERSIONS = {"10.3": "10.3.0", "11.4": "11.4.0.106"}
NULLPTR = "pybind11::init(): factory function returned nullptr"
IO_NAMES = ("images", "detections", "num_detections")


class FakeParserError:
    """Stands for ``tensorrt.ParserError``; its methods are checked against the real ones."""

    def __init__(self, node: int, desc: str) -> None:
        self._node, self._desc = node, desc

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return f"/model/node{self._node}"

    def node_operator(self) -> str:
        return "FancyOp"

    def desc(self) -> str:
        return self._desc


FakeParserError.__name__ = "ParserError"


def _enums(version: str) -> dict[str, type]:
    if version == "10.3":
        creation = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
        builder = {"FP16": 0, "INT8": 1, "GPU_FALLBACK": 3, "TF32": 6}
    else:
        creation = {"STRONGLY_TYPED": 0}  # deprecated in 11.x, ignored: networks are always strongly typed
        builder = {"GPU_FALLBACK": 3, "TF32": 6}
    return {
        "NetworkDefinitionCreationFlag": enum.IntEnum("NetworkDefinitionCreationFlag", creation),
        "BuilderFlag": enum.IntEnum("BuilderFlag", builder),
        "MemoryPoolType": enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0}),
        "DeviceType": enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1}),
        "TensorIOMode": enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2}),
        "DataType": enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "BOOL": 4, "UINT8": 5}),
    }


def make_tensorrt(
    version: str = "10.3",
    log: Log | None = None,
    *,
    input_shape: tuple[int, ...] = (-1, 200, 200, 1),
    errors: Sequence[FakeParserError] = (),
    dla_cores: int = 0,
    timing_cache_accepted: bool = True,
    cuda_ok: bool = True,
    names: tuple[str, str, str] = IO_NAMES,
    hw: tuple[int, int] = (48, 64),
) -> tuple[types.ModuleType, Log]:
    """A fake ``tensorrt`` of ``version`` ("10.3" or "11.4") and the log it writes to.

    Builder side: ``log.build`` records flags, networks, profiles, pool limits and timing-cache calls.
    Runtime side: engines have I/O ``names`` (input ``(-1, *hw, 1)`` uint8, batch 1..8) and compute the fake graph.
    ``timing_cache_accepted=False``: ``set_timing_cache`` returns False and ``get_timing_cache()`` returns None,
    as TensorRT does for a cache from another GPU. ``cuda_ok=False``: ``Builder``/``Runtime`` raise the TypeError
    the real bindings raise when CUDA cannot initialise.
    """
    log = log or Log()
    log.version = version
    build: dict[str, Any] = {"flags_set": [], "flags_cleared": [], "create_network": [], "profiles": [], "pool": [],
                             "timing": []}
    log.build = build  # type: ignore[attr-defined]
    trt = types.ModuleType("tensorrt")
    trt.__version__ = VERSIONS[version]
    enums = _enums(version)
    BuilderFlag, DataType, TensorIOMode = enums["BuilderFlag"], enums["DataType"], enums["TensorIOMode"]
    Severity = enum.IntEnum("Severity", {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4})
    numpy_types = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8,
                   DataType.INT32: np.int32, DataType.BOOL: np.bool_, DataType.UINT8: np.uint8}

    class ILogger:
        INTERNAL_ERROR, ERROR, WARNING = Severity.INTERNAL_ERROR, Severity.ERROR, Severity.WARNING
        INFO, VERBOSE = Severity.INFO, Severity.VERBOSE

        def __init__(self) -> None:
            pass

        def log(self, severity: Any, msg: str) -> None:
            pass

    class Logger(ILogger):
        def __init__(self, min_severity: Any = Severity.WARNING) -> None:
            ILogger.__init__(self)
            self.min_severity = min_severity

        def log(self, severity: Any, msg: str) -> None:
            pass

    ILogger.Severity = Logger.Severity = Severity  # type: ignore[attr-defined]
    log.loggers = []  # type: ignore[attr-defined]  # every logger handed to TensorRT, in order

    def take_logger(logger: Any, who: str) -> None:
        """TensorRT's rule: one ILogger per process, the first one given; a second one is ignored (or worse)."""
        assert isinstance(logger, ILogger), f"{who} needs a tensorrt.ILogger, got {type(logger).__name__}"
        log.loggers.append(logger)
        assert logger is log.loggers[0], (
            f"{who} was given a second TensorRT logger: TensorRT keeps the first ILogger of the process and ignores "
            "later ones (NVIDIA/TensorRT issue 1475); use the one module-level logger")

    class ITensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class INetworkDefinition:
        num_inputs = 1

        def get_input(self, index: int) -> ITensor:
            return ITensor(names[0], input_shape)

    class OnnxParser:
        def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
            take_logger(logger, "OnnxParser")
            self.num_errors = len(errors)

        def parse_from_file(self, model: str) -> bool:
            build["parsed"] = model
            return not errors

        def get_error(self, index: int) -> FakeParserError:
            return errors[index]

    class IOptimizationProfile:
        def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002 - the real names
            build["profiles"].append((input, tuple(min), tuple(opt), tuple(max)))

    class ITimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> memoryview:
            return memoryview(self.data + b"+new")

    class IBuilderConfig:
        default_device_type = enums["DeviceType"].GPU
        DLA_core = -1

        def __init__(self) -> None:
            self._flags = {BuilderFlag.TF32}  # TensorRT enables TF32 in a new config
            self._cache: ITimingCache | None = None

        def set_flag(self, flag: Any) -> None:
            build["flags_set"].append(flag)
            self._flags.add(flag)

        def clear_flag(self, flag: Any) -> None:
            build["flags_cleared"].append(flag)
            self._flags.discard(flag)

        def get_flag(self, flag: Any) -> bool:
            return flag in self._flags

        def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
            build["pool"].append((pool, pool_size))

        def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
            build["profile_added"] = True
            return 0

        def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache:
            build["timing"].append(bytes(serialized_timing_cache))
            return ITimingCache(bytes(serialized_timing_cache))

        def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
            build["timing_ignore_mismatch"] = ignore_mismatch
            if timing_cache_accepted:
                self._cache = cache
            return timing_cache_accepted

        def get_timing_cache(self) -> ITimingCache | None:
            return self._cache

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger: ILogger) -> None:
            if not cuda_ok:
                raise TypeError(NULLPTR)
            take_logger(logger, "Builder")
            self._logger = logger

        def create_network(self, flags: int = 0) -> INetworkDefinition:
            build["create_network"].append(flags)
            return INetworkDefinition()

        def create_builder_config(self) -> IBuilderConfig:
            build["config"] = IBuilderConfig()
            return build["config"]

        def create_optimization_profile(self) -> IOptimizationProfile:
            return IOptimizationProfile()

        def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> memoryview:
            build["tf32_at_build"] = config.get_flag(BuilderFlag.TF32)
            self._logger.log(Severity.VERBOSE, "fake builder: tactic timing")
            self._logger.log(Severity.WARNING, "fake builder: a warning")
            return memoryview(b"serialized-engine")

    shapes = {names[0]: (-1, *hw, 1), names[1]: (-1, MAX_DET, 6), names[2]: (-1,)}
    dtypes = {names[0]: DataType.UINT8, names[1]: DataType.FLOAT, names[2]: DataType.INT32}

    class IExecutionContext:
        def __init__(self) -> None:
            self._addresses: dict[str, int] = {}
            self._shape: tuple[int, ...] | None = None
            self._shape_changes = 0  # a captured graph is only valid for the shape state it was captured in

        def set_tensor_address(self, name: str, memory: int) -> bool:
            log.add("set_tensor_address")
            self._addresses[name] = memory
            return True

        def set_input_shape(self, name: str, shape: Any) -> bool:
            log.add("set_input_shape")
            if tuple(shape) != self._shape:
                self._shape_changes += 1
            self._shape = tuple(shape)
            return 1 <= self._shape[0] <= 8

        def execute_async_v3(self, stream_handle: int) -> bool:
            log.require_context("execute_async_v3")
            log.add("execute_async_v3")
            if log.capturing is not None:
                n, changes = self._shape[0], self._shape_changes
                log.capturing.append(lambda: self._replay(n, changes))
                return True
            self._compute(self._shape[0])
            return True

        def _replay(self, n: int, changes: int) -> None:
            assert (self._shape[0], self._shape_changes) == (n, changes), (
                f"CUDA graph captured for batch {n} replayed on a context whose input shape changed since "
                f"(now {self._shape}): TensorRT needs a recapture, or one execution context per captured shape")
            self._compute(n)

        def _compute(self, n: int) -> None:
            pixels = log.memory[self._addresses[names[0]]][: n * hw[0] * hw[1]].reshape(n, -1)
            s = pixels.astype(np.float32).mean(axis=1) / 255
            dets = (ROWS[None] + s[:, None, None] * SHIFT[None]).astype(np.float32)
            log.memory[self._addresses[names[1]]][: dets.nbytes] = np.frombuffer(dets.tobytes(), np.uint8)
            counts = np.full(n, VALID, np.int32)
            log.memory[self._addresses[names[2]]][: counts.nbytes] = np.frombuffer(counts.tobytes(), np.uint8)

    class ICudaEngine:
        num_io_tensors = 3

        def get_tensor_name(self, index: int) -> str:
            return names[index]

        def get_tensor_mode(self, name: str) -> Any:
            return TensorIOMode.INPUT if name == names[0] else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> Any:
            return dtypes[name]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return shapes[name]

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[tuple[int, ...]]:
            return [(1, *hw, 1), (4, *hw, 1), (8, *hw, 1)]

        def create_execution_context(self, strategy: Any = None) -> IExecutionContext:
            log.require_context("create_execution_context")
            log.add("create_execution_context")
            return IExecutionContext()

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            if not cuda_ok:
                raise TypeError(NULLPTR)
            take_logger(logger, "Runtime")

        def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
            log.require_context("deserialize_cuda_engine")
            log.add("deserialize_cuda_engine")
            return None if serialized_engine == b"incompatible" else ICudaEngine()

    def nptype(trt_type: Any) -> type:
        return numpy_types[trt_type]

    trt.__dict__.update(enums)
    trt.__dict__.update(ILogger=ILogger, Logger=Logger, Builder=Builder, OnnxParser=OnnxParser, Runtime=Runtime, nptype=nptype)
    trt.__fake_classes__ = (ITensor, INetworkDefinition, IOptimizationProfile, ITimingCache, IBuilderConfig,
                            IExecutionContext, ICudaEngine, FakeParserError)
    return trt, log


class _NoNativeLibs(importlib.abc.MetaPathFinder):
    """``import tensorrt`` fails as it does with the bindings installed but libnvinfer missing."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorrt", "tensorrt_bindings"):
            raise self.error
        return None


LIBNVINFER_MISSING = "libnvinfer.so.10: cannot open shared object file: No such file or directory"


def tensorrt_without_native_libs(monkeypatch: Any, error_type: type = ImportError) -> None:
    """Make ``import tensorrt`` raise ``error_type(LIBNVINFER_MISSING)`` (pytest monkeypatch): the package is there,
    its native libraries are not (the bindings raise ImportError from the extension, OSError from ctypes)."""
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoNativeLibs(error_type(LIBNVINFER_MISSING)), *sys.meta_path])
