"""Our TensorRT builder's calls, checked against the FAKE ``tensorrt`` of tests/fakes (10.3 and 11.4, each checked
against the real bindings' recorded API) injected into sys.modules.

The fake only records what our code asks of it. It proves nothing about the GPU path (see
tests/engine/test_tensorrt_build_gpu.py for the real build): it checks our logic, e.g. that STRONGLY_TYPED is set,
that no FP16/INT8 builder flag is used, that TF32 is cleared, that a dynamic batch gets one optimisation profile, that
the timing cache is read and written back (and that a refused one does not cost the engine), and that parser errors
and a CUDA that cannot initialise become one clear error.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from grace_edge.errors import ArtifactError, BackendUnavailable, InputError
from tests.fakes.tensorrt import FakeParserError, make_tensorrt


@pytest.fixture(params=["10.3", "11.4"])
def fake_trt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """install(**options) puts a fake tensorrt of this release line in sys.modules and returns its build record."""

    def install(**kwargs):
        trt, log = make_tensorrt(request.param, **kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return log.build

    install.version = request.param
    return install


def test_strongly_typed_and_no_precision_flags(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt()
    trt = sys.modules["tensorrt"]
    built = build_engine(tmp_path / "m.onnx", precision="int8", batch=(1, 8, 16), workspace_gib=2)
    assert built.engine == b"serialized-engine" and built.tensorrt_version == trt.__version__
    assert calls["create_network"] == [1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)]
    assert calls["flags_set"] == []  # no precision flag: precision is in the graph
    assert calls["pool"] == [(trt.MemoryPoolType.WORKSPACE, 2 << 30)]
    assert calls["profiles"] == [("images", (1, 200, 200, 1), (8, 200, 200, 1), (16, 200, 200, 1))]
    assert calls["profile_added"]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tf32_is_cleared_so_fp32_is_fp32(fake_trt, tmp_path: Path, precision: str) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt()
    build_engine(tmp_path / "m.onnx", precision=precision)
    assert calls["flags_cleared"] == [sys.modules["tensorrt"].BuilderFlag.TF32]
    assert calls["tf32_at_build"] is False


def test_cuda_that_cannot_initialise_is_backend_unavailable(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    fake_trt(cuda_ok=False)
    with pytest.raises(BackendUnavailable, match="could not create its Builder.*CUDA did not initialise.*nvidia-smi"):
        build_engine(tmp_path / "m.onnx", precision="fp16")


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
    built = build_engine(tmp_path / "m.onnx", precision="fp16", timing_cache=cache)
    assert calls["timing"] == [b""] and cache.read_bytes() == b"+new"
    assert calls["timing_ignore_mismatch"] is False and built.timing_cache == cache and built.notes == ()
    build_engine(tmp_path / "m.onnx", precision="fp16", timing_cache=cache)
    assert calls["timing"][-1] == b"+new" and cache.read_bytes() == b"+new+new"


def test_a_refused_timing_cache_keeps_the_engine_and_says_so(fake_trt, tmp_path: Path) -> None:
    """TensorRT refuses a cache from another GPU (set_timing_cache -> False, get_timing_cache() -> None)."""
    from grace_edge.engine.tensorrt_build import build_engine

    fake_trt(timing_cache_accepted=False)
    cache = tmp_path / "other-gpu.cache"
    cache.write_bytes(b"made on an RTX")
    built = build_engine(tmp_path / "m.onnx", precision="fp16", timing_cache=cache)
    assert built.engine == b"serialized-engine" and built.timing_cache is None
    assert len(built.notes) == 1 and "other-gpu.cache" in built.notes[0] and "ignored" in built.notes[0]
    assert cache.read_bytes() == b"made on an RTX"  # left as it was


def test_dla_settings(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt(dla_cores=2)
    build_engine(tmp_path / "m.onnx", precision="int8", dla_core=1)
    config = calls["config"]
    trt = sys.modules["tensorrt"]
    assert config.default_device_type == trt.DeviceType.DLA and config.DLA_core == 1
    assert calls["flags_set"] == [trt.BuilderFlag.GPU_FALLBACK]
    with pytest.raises(InputError, match="DLA cores 0-1"):
        build_engine(tmp_path / "m.onnx", precision="int8", dla_core=2)
    with pytest.raises(InputError, match="fp16 or --int8"):
        build_engine(tmp_path / "m.onnx", precision="fp32", dla_core=0)
    fake_trt(dla_cores=0)
    with pytest.raises(BackendUnavailable, match="no DLA"):
        build_engine(tmp_path / "m.onnx", precision="fp16", dla_core=0)


def test_old_tensorrt_is_refused(fake_trt, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    fake_trt()
    sys.modules["tensorrt"].__version__ = "8.6.1"  # JetPack 6.0's TensorRT: no named-tensor runtime API
    with pytest.raises(BackendUnavailable, match="8.6.1"):
        build_engine(tmp_path / "m.onnx", precision="fp16")


def test_a_tensorrt_without_the_strongly_typed_flag(fake_trt, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """11.4 still has the flag (deprecated, ignored); a later release may drop it: then flags are 0."""
    from grace_edge.engine.tensorrt_build import build_engine

    calls = fake_trt()
    monkeypatch.setattr(sys.modules["tensorrt"], "NetworkDefinitionCreationFlag", types.SimpleNamespace())
    build_engine(tmp_path / "m.onnx", precision="fp16")
    assert calls["create_network"] == [0]


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
    version = ".".join(sys.modules["tensorrt"].__version__.split(".")[:3])  # 11.4.0.106 -> trt11.4.0
    assert report.path == tmp_path / "engines" / f"grace-n_fp16_b1_64_trt{version}_orin.engine"
    meta, engine = unpack_engine(report.path)
    assert engine == b"serialized-engine" and meta.precision == "fp16" and meta.imgsz == (64, 64)
    assert meta.backend == {"tensorrt": sys.modules["tensorrt"].__version__, "gpu": "Orin", "compute_capability": "8.7"}
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


@pytest.mark.parametrize("error", [ImportError, OSError])
def test_tensorrt_without_native_libraries_is_named_not_missing(monkeypatch, tmp_path: Path, error: type) -> None:
    """``build`` falls back (or, with --require-tensorrt, fails) with the loader's error, not "not installed"."""
    from grace_edge.engine.pipeline import choose_backend
    from grace_edge.engine.tensorrt_build import build_engine
    from tests.fakes.tensorrt import LIBNVINFER_MISSING, tensorrt_without_native_libs

    tensorrt_without_native_libs(monkeypatch, error)
    backend, _, reason = choose_backend(False)
    assert backend == "onnxruntime" and LIBNVINFER_MISSING in reason and "not installed" not in reason
    with pytest.raises(BackendUnavailable, match="--require-tensorrt: TensorRT is installed but its native libraries"):
        choose_backend(True)
    with pytest.raises(BackendUnavailable, match="libnvinfer.so.10: cannot open shared object file"):
        build_engine(tmp_path / "m.onnx", precision="fp16")
