"""Our TensorRT builder's calls, checked against a FAKE ``tensorrt`` module injected into sys.modules.

The fake only records what our code asks of it. It proves nothing about the GPU path (see tests/engine/test_tensorrt_build_gpu.py for
the real build): it checks our logic, e.g. that STRONGLY_TYPED is set, that no FP16/INT8 builder flag is used, that
a dynamic batch gets one optimisation profile, that the timing cache is read and written back, and that parser
errors become one clear ArtifactError.
"""

from __future__ import annotations

import sys
import types
from enum import IntEnum
from pathlib import Path

import pytest

from grace_edge.errors import ArtifactError, BackendUnavailable, InputError


class _Flag(IntEnum):
    STRONGLY_TYPED = 1


class _BuilderFlag(IntEnum):
    FP16 = 0
    INT8 = 1
    GPU_FALLBACK = 2


class FakeTensor:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name, self.shape = name, shape


class FakeParserError:
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


def make_fake_trt(input_shape=(-1, 200, 200, 1), errors=(), dla_cores=0, version="10.3.0"):
    calls: dict[str, list] = {"flags": [], "create_network": [], "profiles": [], "pool": [], "timing": []}
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.NetworkDefinitionCreationFlag = _Flag
    trt.BuilderFlag = _BuilderFlag
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.DeviceType = types.SimpleNamespace(DLA="dla", GPU="gpu")

    class Logger:
        WARNING, VERBOSE = "warning", "verbose"

        def __init__(self, severity):
            self.severity = severity

    class Network:
        num_inputs = 1

        def get_input(self, i):
            return FakeTensor("images", input_shape)

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = len(errors)

        def parse_from_file(self, path):
            calls["parsed"] = path
            return not errors

        def get_error(self, i):
            return errors[i]

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            calls["profiles"].append((name, lo, opt, hi))

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return memoryview(self.data + b"+new")

    class Config:
        default_device_type = "gpu"
        DLA_core = -1

        def set_flag(self, flag):
            calls["flags"].append(flag)

        def set_memory_pool_limit(self, pool, size):
            calls["pool"].append((pool, size))

        def add_optimization_profile(self, profile):
            calls["profile_added"] = True

        def create_timing_cache(self, data):
            calls["timing"].append(bytes(data))
            self._cache = TimingCache(bytes(data))
            return self._cache

        def set_timing_cache(self, cache, ignore_mismatch):
            calls["timing_ignore_mismatch"] = ignore_mismatch

        def get_timing_cache(self):
            return self._cache

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls["create_network"].append(flags)
            return Network()

        def create_builder_config(self):
            calls["config"] = Config()
            return calls["config"]

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            return memoryview(b"serialized-engine")

    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, Parser
    return trt, calls


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch):
    def install(**kwargs):
        trt, calls = make_fake_trt(**kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return calls

    return install


def test_strongly_typed_and_no_precision_flags(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt()
    built = build_engine(tmp_path / "m.onnx", precision="int8", batch=(1, 8, 16), workspace_gib=2)
    assert built.engine == b"serialized-engine" and built.tensorrt_version == "10.3.0"
    assert calls["create_network"] == [1 << int(_Flag.STRONGLY_TYPED)]
    assert _BuilderFlag.FP16 not in calls["flags"] and _BuilderFlag.INT8 not in calls["flags"]
    assert calls["pool"] == [("workspace", 2 << 30)]
    assert calls["profiles"] == [("images", (1, 200, 200, 1), (8, 200, 200, 1), (16, 200, 200, 1))]
    assert calls["profile_added"]


def test_source_has_no_precision_builder_flags() -> None:
    import grace_edge.engine.tensorrt_build as module

    source = Path(module.__file__).read_text()
    for banned in ("trt.BuilderFlag.FP16", "trt.BuilderFlag.INT8", "int8_calibrator", "execute_async_v2"):
        assert banned not in source


def test_parser_errors_become_one_artifact_error(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    fake_trt(errors=[FakeParserError(3, "unsupported op"), FakeParserError(7, "bad shape")])
    with pytest.raises(ArtifactError) as info:
        build_engine(tmp_path / "m.onnx", precision="fp16")
    message = str(info.value)
    assert "m.onnx" in message and "cannot parse" in message
    assert "node 3" in message and "unsupported op" in message and "FancyOp" in message
    assert "node 7" in message and "bad shape" in message


def test_fixed_batch_rejects_a_range(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt(input_shape=(1, 200, 200, 1))
    build_engine(tmp_path / "m.onnx", precision="fp16", batch=(1, 1, 1))
    assert calls["profiles"] == []
    with pytest.raises(InputError, match="fixed"):
        build_engine(tmp_path / "m.onnx", precision="fp16", batch=(1, 4, 8))


def test_timing_cache_read_and_written_back(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt()
    cache = tmp_path / "timing.cache"
    build_engine(tmp_path / "m.onnx", precision="fp16", timing_cache=cache)
    assert calls["timing"] == [b""] and cache.read_bytes() == b"+new"
    assert calls["timing_ignore_mismatch"] is False
    build_engine(tmp_path / "m.onnx", precision="fp16", timing_cache=cache)
    assert calls["timing"][-1] == b"+new" and cache.read_bytes() == b"+new+new"


def test_dla_settings(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt(dla_cores=2)
    build_engine(tmp_path / "m.onnx", precision="int8", dla_core=1)
    config = calls["config"]
    assert config.default_device_type == "dla" and config.DLA_core == 1
    assert calls["flags"] == [_BuilderFlag.GPU_FALLBACK]
    with pytest.raises(InputError, match="DLA cores 0-1"):
        build_engine(tmp_path / "m.onnx", precision="int8", dla_core=2)
    with pytest.raises(InputError, match="fp16 or --int8"):
        build_engine(tmp_path / "m.onnx", precision="fp32", dla_core=0)
    fake_trt(dla_cores=0)
    with pytest.raises(BackendUnavailable, match="no DLA"):
        build_engine(tmp_path / "m.onnx", precision="fp16", dla_core=0)


def test_old_tensorrt_is_refused(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    fake_trt(version="8.6.1")
    with pytest.raises(BackendUnavailable, match="8.6.1"):
        build_engine(tmp_path / "m.onnx", precision="fp16")


def test_tensorrt_11_without_strongly_typed_flag(fake_trt, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt(version="11.4.1")
    monkeypatch.setattr(sys.modules["tensorrt"], "NetworkDefinitionCreationFlag", types.SimpleNamespace())
    build_engine(tmp_path / "m.onnx", precision="fp16")
    assert calls["create_network"] == [0]  # always strongly typed in 11.x; the flag may be gone


def test_build_command_with_fake_tensorrt_names_and_labels_the_engine(fake_trt, monkeypatch, tmp_path, capsys) -> None:
    """build() on a (faked) Orin: engine name, grace-edge header with TRT version, GPU and compute capability."""
    from grace_edge.artifact import unpack_engine
    from grace_edge.engine import tensorrt_build
    from grace_edge.engine.pipeline import CPU_FALLBACK, BuildOptions, build
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    fp32 = export_onnx(build_model("grace-n"), tmp_path / "grace-n.onnx", imgsz=64)
    calls = fake_trt()
    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: tensorrt_build.GpuInfo("Orin", "8.7"))
    report = build(BuildOptions(precision="fp16", onnx=fp32, out_dir=tmp_path / "engines", require_tensorrt=True))
    assert report.backend == "tensorrt"
    assert report.path == tmp_path / "engines" / "grace-n_fp16_b1_64_trt10.3.0_orin.engine"
    meta, engine = unpack_engine(report.path)
    assert engine == b"serialized-engine" and meta.precision == "fp16" and meta.imgsz == (64, 64)
    assert meta.backend == {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}
    assert meta.source["onnx_fp32"] and meta.source["onnx_sha256"]
    assert calls["parsed"].endswith(".onnx") and CPU_FALLBACK not in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "engines").iterdir()) == [report.path.name]


def test_tensorrt_without_gpu_falls_back_and_says_why(fake_trt, monkeypatch) -> None:
    from grace_edge.engine import tensorrt_build
    from grace_edge.engine.pipeline import choose_backend

    fake_trt()
    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: None)
    assert choose_backend(False) == ("onnxruntime", None, "no CUDA GPU was found")
    with pytest.raises(BackendUnavailable, match="--require-tensorrt: no CUDA GPU"):
        choose_backend(True)
