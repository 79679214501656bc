"""Issue 11 item 4: an INT8 calibration cache is reused only if it is intact and sealed for this calibration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grace_edge.data.calibration import calibration_images
from grace_edge.engine.quantize import cache_problem, quantize_int8
from tests.helpers.models import untrained_onnx

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_onnx(tmp_path_factory.mktemp("calib"))


@pytest.fixture(scope="module")
def images(tiny_dataset: Path) -> list[Path]:
    return calibration_images(tiny_dataset, 2)


@pytest.fixture(scope="module")
def first(fp32_onnx: Path, images: list[Path]):
    return quantize_int8(fp32_onnx, fp32_onnx.with_name("int8.onnx"), images, method="minmax")


def _edit_ranges(fn):
    """Apply ``fn(key, value)`` to every tensor's lowest/highest (a float, or ONNX Runtime's numpy-array dict)."""
    def change(text: str) -> str:
        data = json.loads(text)
        for entry in data["data"].values():
            for key in ("lowest", "highest"):
                if isinstance(entry[key], dict):
                    entry[key]["data"] = fn(key, entry[key]["data"])
                else:
                    entry[key] = fn(key, entry[key])
        return json.dumps(data)
    return change


def _scale(v, factor):
    return [x * factor for x in v] if isinstance(v, list) else v * factor


def _scale_ranges(factor: float):
    return _edit_ranges(lambda key, v: _scale(v, factor))


def _set_ranges(value: float):
    def new(key: str, v):
        bound = -value if key == "lowest" else value
        return [bound] * len(v) if isinstance(v, list) else bound
    return _edit_ranges(new)


def _drop_seal(text: str) -> str:
    data = json.loads(text)
    data.pop("grace_edge")
    return json.dumps(data)


@pytest.mark.parametrize("damage, problem", [
    (lambda t: "not json {", "is not JSON"),
    (lambda t: t[: len(t) // 2], "is not JSON"),
    (lambda t: json.dumps({"CLS": "TensorsData", "data": []}), "wrong schema"),
    (lambda t: json.dumps([1, 2, 3]), "wrong schema"),
    (lambda t: t.replace('"lowest": ', '"lowest": "x", "was": ', 1), "wrong schema"),
    (_scale_ranges(0.8), "do not match their SHA-256"),
    (_set_ranges(1e-3), "do not match their SHA-256"),
    (_set_ranges(1e4), "do not match their SHA-256"),
    (_drop_seal, "is not sealed"),
])
def test_broken_cache_is_named_and_rebuilt(first, fp32_onnx: Path, images, tmp_path: Path, damage, problem) -> None:
    assert not first.cache_hit and first.cache_problem is None
    cache = tmp_path / first.cache_path.name
    cache.write_text(damage(first.cache_path.read_text()))
    assert problem in (cache_problem(cache, json.loads(first.cache_path.read_text())["grace_edge"]["key"],
                                     "minmax") or "")
    again = quantize_int8(fp32_onnx, tmp_path / "int8.onnx", images, method="minmax")
    assert again.cache_path == cache and not again.cache_hit
    assert problem in again.cache_problem and "\n" not in again.cache_problem
    assert json.loads(cache.read_text()) == json.loads(first.cache_path.read_text())  # rebuilt, same ranges


def test_intact_cache_is_reused(first, fp32_onnx: Path, images, tmp_path: Path) -> None:
    shutil.copy(first.cache_path, tmp_path / first.cache_path.name)
    again = quantize_int8(fp32_onnx, tmp_path / "int8.onnx", images, method="minmax")
    assert again.cache_hit and again.cache_problem is None


def test_build_says_the_cache_was_rebuilt(first, fp32_onnx: Path, tiny_dataset: Path, tmp_path: Path) -> None:
    from grace_edge.engine.pipeline import BuildOptions, build

    out = tmp_path / "m.onnx"
    options = BuildOptions(precision="int8", onnx=fp32_onnx, data=tiny_dataset, calib_images=2, calib_method="minmax",
                           gate=False, out=out)
    build(options, log=lambda m: None)
    cache = next(tmp_path.glob("*.calib-*.json"))
    cache.write_text("{")
    lines: list[str] = []
    build(options, log=lines.append)
    said = [m for m in lines if str(cache) in m and "calibrated again" in m]
    assert said and "is not JSON" in said[0]


def test_cpu_int8_cache_is_checked_too(fp32_onnx: Path, images, tmp_path: Path) -> None:
    from grace_edge.engine.quantize_cpu import quantize_int8_cpu

    made = quantize_int8_cpu(fp32_onnx, tmp_path / "cpu.onnx", images, method="minmax")
    made.cache_path.write_text(_scale_ranges(0.8)(made.cache_path.read_text()))
    again = quantize_int8_cpu(fp32_onnx, tmp_path / "cpu.onnx", images, method="minmax")
    assert not again.cache_hit and "do not match their SHA-256" in again.cache_problem
