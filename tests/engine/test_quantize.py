"""INT8 Q/DQ ONNX: TensorRT-ready quantization (symmetric, zero point 0, per-channel weights, float bias, float
pre/postprocess), real calibration images from the train split, and a calibration cache that is never stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from grace_edge.artifact import read_onnx_meta
from grace_edge.errors import InputError
from grace_edge.data.calibration import calibration_images, pick_images, split_images
from grace_edge.engine.precision import find_regions, name_nodes
from grace_edge.engine.quantize import calibration_key, quantize_int8, settings
from tests.helpers.models import untrained_onnx

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_onnx(tmp_path_factory.mktemp("int8"))


@pytest.fixture(scope="module")
def images(tiny_dataset: Path) -> list[Path]:
    return calibration_images(tiny_dataset, 4)


@pytest.fixture(scope="module")
def int8(fp32_onnx: Path, images: list[Path]):
    return quantize_int8(fp32_onnx, fp32_onnx.with_name("grace-n_int8.onnx"), images, method="entropy")


def test_calibration_uses_train_split_only(tiny_dataset: Path, images: list[Path]) -> None:
    train, val = split_images(tiny_dataset, "train"), split_images(tiny_dataset, "val")
    assert set(images) <= set(train) and not set(images) & set(val)
    assert len(images) == 4 and images == sorted(images)
    assert {p.name.rsplit("_", 1)[0] for p in pick_images(train, 6)} == {p.name.rsplit("_", 1)[0] for p in train}


def test_int8_graph_is_tensorrt_ready(fp32_onnx: Path, int8) -> None:
    model = onnx.load(str(int8.path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert sum(n.op_type == "QuantizeLinear" for n in qdq) > 10
    for n in qdq:  # TensorRT: signed INT8, zero point 0
        zero_point = inits[n.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), n.name

    quantized_convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in producer]
    assert quantized_convs
    for conv in quantized_convs:
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        weight, scale = inits[dq.input[0]], inits[dq.input[1]]
        assert weight.dtype == np.int8 and scale.shape == (weight.shape[0],), "per-channel weights"
        assert weight.min() >= -127, "TensorRT takes INT8 weights in [-127, 127]"
        assert next((a.i for a in dq.attribute if a.name == "axis"), 1) == 0
        if len(conv.input) > 2:  # bias stays float
            assert conv.input[2] in inits and inits[conv.input[2]].dtype == np.float32, conv.name

    sigmoids = [n for n in model.graph.node if n.op_type == "Sigmoid" and n.input[0] in producer]
    assert sigmoids and not [n.name for n in sigmoids if producer[n.input[0]].op_type == "DequantizeLinear"], (
        "convolution outputs must stay float so that TensorRT fuses conv + SiLU"
    )

    fp32 = onnx.load(str(fp32_onnx))
    name_nodes(fp32)
    regions = find_regions(fp32)
    kept_float = regions.preprocess | regions.decode | regions.head_outputs
    by_name = {n.name: n for n in model.graph.node}
    for name in kept_float:
        fed = [i for i in by_name[name].input if i in producer and producer[i].op_type == "DequantizeLinear"]
        assert not fed, f"{name} ({by_name[name].op_type}) should stay float but reads {fed}"


def test_int8_runs_and_carries_metadata(int8) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(1).integers(0, 256, (1, 200, 200, 1), dtype=np.uint8)
    det, count = ort.InferenceSession(str(int8.path), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    assert det.shape == (1, 100, 6) and det.dtype == np.float32 and count.dtype == np.int32
    meta = read_onnx_meta(int8.path)
    assert meta.precision == "int8" and meta.source["calib_method"] == "entropy"
    assert int8.cache_path.name == f"grace-n_int8.calib-{meta.source['calibration'][:16]}.json"


def test_cache_key_covers_model_images_and_settings(fp32_onnx: Path, images: list[Path], tmp_path: Path) -> None:
    config = settings("entropy", True)
    base = calibration_key(fp32_onnx, images, config)
    assert calibration_key(fp32_onnx, list(reversed(images)), config) == base  # order of the list does not matter

    model = tmp_path / "model.onnx"
    model.write_bytes(fp32_onnx.read_bytes() + b"\0")
    assert calibration_key(model, images, config) != base

    changed = [tmp_path / p.name for p in images]
    for src, dst in zip(images, changed):
        shutil.copyfile(src, dst)
    assert calibration_key(fp32_onnx, changed, config) == base  # same names and bytes: same key
    changed[0].write_bytes(changed[0].read_bytes() + b"\0")
    assert calibration_key(fp32_onnx, changed, config) != base
    assert calibration_key(fp32_onnx, images[:-1], config) != base

    assert calibration_key(fp32_onnx, images, settings("percentile", True)) != base
    assert calibration_key(fp32_onnx, images, settings("entropy", False)) != base


def test_cache_hit_then_miss_after_image_change(fp32_onnx: Path, images: list[Path], tmp_path: Path) -> None:
    local = [tmp_path / p.name for p in images[:2]]
    for src, dst in zip(images[:2], local):
        shutil.copyfile(src, dst)
    out = tmp_path / "q.onnx"
    first = quantize_int8(fp32_onnx, out, local, method="minmax")
    assert not first.cache_hit and first.cache_path.is_file() and first.cache_path.parent == tmp_path
    again = quantize_int8(fp32_onnx, out, local, method="minmax")
    assert again.cache_hit and again.cache_path == first.cache_path
    import cv2

    image = cv2.imread(str(local[0]))
    cv2.imwrite(str(local[0]), 255 - image)
    changed = quantize_int8(fp32_onnx, out, local, method="minmax")
    assert not changed.cache_hit and changed.cache_path != first.cache_path


def test_bad_method_and_empty_images(fp32_onnx: Path, images: list[Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="calib-method"):
        quantize_int8(fp32_onnx, tmp_path / "x.onnx", images, method="kl")
    with pytest.raises(InputError, match="calibration images"):
        quantize_int8(fp32_onnx, tmp_path / "x.onnx", [], method="entropy")
    assert not (tmp_path / "x.onnx").exists()


def test_unreadable_calibration_image_is_named(fp32_onnx: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        quantize_int8(fp32_onnx, tmp_path / "x.onnx", [bad], method="minmax")
    assert not (tmp_path / "x.onnx").exists()


def test_percentile_survives_near_constant_activations(fp32_onnx: Path, images: list[Path], tmp_path: Path) -> None:
    # An untrained model's SiLU inputs are nearly constant; ONNX Runtime's 2048-bin |x| histogram used to fail on them.
    result = quantize_int8(fp32_onnx, tmp_path / "p.onnx", images, method="percentile")
    model = onnx.load(str(result.path))
    zero_points = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("_zero_point")]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)
