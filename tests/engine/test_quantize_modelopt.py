"""The TensorRT INT8 graph made by the real NVIDIA ModelOpt (its venv: ``$GRACE_MODELOPT_ENV`` or ``.venv-modelopt``,
made by ``.ci/modelopt_env.sh``). Outside CI these tests skip without that venv; in CI (``CI=true``) they fail.

Checked on the CPU: the graph ModelOpt writes for a tiny GRACE-n follows TensorRT's parser rules, is FP16 outside
its Q/DQ pairs with the decode and NMS kept FP32, keeps grace-edge's metadata, runs in ONNX Runtime, and ``build``
uses it for TensorRT with the accuracy gate on it. That the engine TensorRT builds from it is faster than FP16 is
for a GPU to show (``grace-edge bench``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from grace_edge.engine import quantize_modelopt
from grace_edge.engine.conformance import check_file
from grace_edge.errors import BackendUnavailable, InputError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def modelopt_env() -> None:
    if not quantize_modelopt.available():
        message = "NVIDIA ModelOpt not found (make its venv with: bash .ci/modelopt_env.sh)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + ": CI must have it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def quantized(modelopt_env, tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    from grace_edge.data.calibration import calibration_images
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    torch.manual_seed(0)
    work = tmp_path_factory.mktemp("modelopt")
    fp32 = export_onnx(build_model("grace-n"), work / "fp32.onnx", imgsz=64)
    images = calibration_images(tiny_dataset, 4)
    result = quantize_modelopt.quantize_int8_modelopt(fp32, work / "int8.onnx", images)
    assert result.images == 4 and result.excluded_nodes > 0
    return fp32, result.path


def test_modelopt_graph_follows_tensorrts_rules_and_keeps_the_metadata(quantized) -> None:
    from grace_edge.artifact import read_onnx_meta

    _, path = quantized
    assert check_file(path) == []  # before the weight-form fix: one false violation per quantized convolution
    meta = read_onnx_meta(path)
    assert meta.precision == "int8" and meta.source["int8_layout"] == "modelopt"
    assert re.fullmatch(r"0\.47\..*", meta.source["modelopt"])


def test_fp16_outside_qdq_and_fp32_decode(quantized) -> None:
    from grace_edge.engine.precision import find_regions, name_nodes, tensor_types

    fp32, path = quantized
    model = onnx.load(str(path))
    types = tensor_types(model)
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["QuantizeLinear"] == ops["DequantizeLinear"]
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    half = [n for n in convs if types.get(n.output[0]) == onnx.TensorProto.FLOAT16]
    assert len(half) >= len(convs) - 6  # all but the head's output convolutions (left unquantized, may stay float)
    original = onnx.load(str(fp32))
    name_nodes(original)
    regions = find_regions(original)
    by_name = {n.name: n for n in model.graph.node}
    decode = [by_name[name] for name in regions.decode | regions.preprocess if name in by_name]
    assert len(decode) == len(regions.decode | regions.preprocess)  # ModelOpt keeps our node names
    assert not [n.name for n in decode if types.get(n.output[0]) == onnx.TensorProto.FLOAT16]  # boxes stay FP32
    assert sum(types.get(n.output[0]) == onnx.TensorProto.FLOAT for n in decode) > 20
    assert [o.type.tensor_type.elem_type for o in model.graph.output] == [onnx.TensorProto.FLOAT, onnx.TensorProto.INT32]


def test_modelopt_graph_runs_in_onnx_runtime(quantized) -> None:
    from grace_edge.runtime import Detector

    _, path = quantized
    rng = np.random.default_rng(0)
    with Detector.open(path, conf=0.001) as det:
        (rows,) = det.detect_arrays([rng.integers(0, 256, size=(200, 200), dtype=np.uint8)])
    assert rows.ndim == 2 and rows.shape[1] == 6 and np.isfinite(rows).all()


def test_build_uses_modelopt_for_tensorrt_with_the_gate(modelopt_env, tiny_dataset, monkeypatch, tmp_path) -> None:
    from grace_edge.engine import pipeline, tensorrt_build
    from grace_edge.engine.pipeline import BuildOptions, build

    monkeypatch.setattr(pipeline, "choose_backend", lambda required: ("tensorrt", tensorrt_build.GpuInfo("Orin", "8.7"), ""))
    monkeypatch.setattr(tensorrt_build, "tensorrt_version", lambda: "10.3.0")
    handed: list[Path] = []

    class Built:
        engine, tensorrt_version, notes = b"fake engine", "10.3.0", ()

    monkeypatch.setattr(tensorrt_build, "build_engine", lambda onnx_path, **kw: handed.append(Path(onnx_path)) or Built())
    logged: list[str] = []
    options = BuildOptions(precision="int8", model="grace-n", imgsz=64, data=tiny_dataset, calib_images=4,
                           gate_images=6, max_map_drop=100.0, out=tmp_path / "m.engine")
    report = build(options, log=logged.append)
    assert any("NVIDIA ModelOpt layout" in line for line in logged)
    assert any(line.startswith("TensorRT conformance: the graph follows") for line in logged)
    assert report.gate is not None and report.gate.images == 6  # the accuracy gate ran on the ModelOpt graph
    assert len(handed) == 1


def test_without_modelopt_build_says_so_and_uses_onnx_runtimes_layout(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(quantize_modelopt, "modelopt_python", lambda: None)
    logged: list[str] = []
    assert quantize_modelopt.modelopt_int8(tmp_path / "a.onnx", tmp_path / "b.onnx", [], "entropy", logged.append) \
        is None
    assert "NVIDIA ModelOpt is not available" in logged[0] and "slower than the FP16 one" in logged[0]
    with pytest.raises(BackendUnavailable, match="bash .ci/modelopt_env.sh"):
        quantize_modelopt.quantize_int8_modelopt(tmp_path / "a.onnx", tmp_path / "b.onnx", [tmp_path / "x.png"])
    with pytest.raises(InputError, match="ModelOpt calibrates with entropy or minmax"):
        quantize_modelopt.quantize_int8_modelopt(tmp_path / "a.onnx", tmp_path / "b.onnx", [], method="percentile")


def test_a_named_env_without_python_is_one_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(quantize_modelopt.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setitem(__import__("sys").modules, "modelopt", None)  # not importable here
    with pytest.raises(BackendUnavailable, match="GRACE_MODELOPT_ENV=.*nowhere: no bin/python there"):
        quantize_modelopt.modelopt_python()


def test_the_env_script_installs_the_extras_requirement() -> None:
    from setuptools.config.setupcfg import read_configuration

    (requirement,) = read_configuration(str(REPO / "setup.cfg"))["options"]["extras_require"]["modelopt"]
    script = (REPO / ".ci" / "modelopt_env.sh").read_text()
    assert f'"{requirement}"' in script and "bash .ci/modelopt_env.sh" in (REPO / ".ci" / "run").read_text()
