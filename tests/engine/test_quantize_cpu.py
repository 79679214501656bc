"""CPU-layout INT8 (uint8 activations, conv outputs and SiLU quantized): the layout ONNX Runtime runs as integer
kernels, from the same calibration images and keyed cache mechanism as the TensorRT graph."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from grace_edge.artifact import read_onnx_meta
from grace_edge.engine.quantize_cpu import LAYOUT, cpu_settings, non_silu_nodes, quantize_int8_cpu
from grace_edge.engine.calibration import calibration_images
from grace_edge.engine.precision import find_regions, name_nodes
from grace_edge.engine.quantize import calibration_key, settings
from tests.helpers.models import untrained_onnx

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_onnx(tmp_path_factory.mktemp("int8cpu"))


@pytest.fixture(scope="module")
def images(tiny_dataset: Path) -> list[Path]:
    return calibration_images(tiny_dataset, 4)


@pytest.fixture(scope="module")
def int8(fp32_onnx: Path, images: list[Path]):
    return quantize_int8_cpu(fp32_onnx, fp32_onnx.with_name("grace-n_int8cpu.onnx"), images)


def test_cpu_layout_uint8_activations_int8_weights_quantized_conv_outputs(fp32_onnx: Path, int8) -> None:
    model = onnx.load(str(int8.path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in model.graph.node:
        for i in n.input:
            consumers[i].append(n)
    activation_q = [n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]
    assert activation_q and all(inits[n.input[2]].dtype == np.uint8 for n in activation_q)
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in producer]  # weights from a DQ
    assert len(convs) > 10
    for conv in convs:
        weight_dq = producer[conv.input[1]]
        weight = inits[weight_dq.input[0]]
        assert weight.dtype == np.int8 and inits[weight_dq.input[1]].shape == (weight.shape[0],)
        assert any(c.op_type == "QuantizeLinear" for c in consumers[conv.output[0]]), f"{conv.name}: output not quantized"
    fp32 = onnx.load(str(fp32_onnx))
    name_nodes(fp32)
    silu_sigmoids = {n.name for n in fp32.graph.node if n.op_type == "Sigmoid"} - non_silu_nodes(fp32)
    quantized_sigmoids = {n.name for n in model.graph.node if n.op_type == "Sigmoid" and n.input[0] in producer
                          and producer[n.input[0]].op_type == "DequantizeLinear"}
    assert len(silu_sigmoids) > 10 and silu_sigmoids - find_regions(fp32).decode <= quantized_sigmoids

    regions = find_regions(fp32)
    by_name = {n.name: n for n in model.graph.node}
    for name in regions.preprocess | regions.decode:
        fed = [i for i in by_name[name].input if i in producer and producer[i].op_type == "DequantizeLinear"]
        assert not fed, f"{name} ({by_name[name].op_type}) should stay float but reads {fed}"
    for name in regions.head_outputs:  # float convolution (its input may arrive dequantized)
        assert by_name[name].input[1] in inits and inits[by_name[name].input[1]].dtype == np.float32, name


def test_onnxruntime_runs_integer_kernels(int8, tmp_path: Path) -> None:
    """The point of the layout: ORT fuses the Q/DQ groups into QLinearConv/QLinearSigmoid/QLinearMul."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(str(int8.path), options, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)
    assert ops["QLinearConv"] > ops["Conv"] and ops["QLinearSigmoid"] > 0 and ops["QLinearMul"] > 0, ops
    x = np.random.default_rng(1).integers(0, 256, (1, 200, 200, 1), dtype=np.uint8)
    det, count = session.run(None, {"images": x})
    assert det.shape == (1, 100, 6) and count.dtype == np.int32


def test_metadata_and_cache_are_the_cpu_layouts(fp32_onnx: Path, images: list[Path], int8, tmp_path: Path) -> None:
    meta = read_onnx_meta(int8.path)
    assert meta.precision == "int8" and meta.source["int8_layout"] == LAYOUT
    assert calibration_key(fp32_onnx, images, cpu_settings("minmax", True)) != \
        calibration_key(fp32_onnx, images, settings("minmax", True)), "a TensorRT cache must never serve the CPU graph"
    again = quantize_int8_cpu(fp32_onnx, tmp_path / int8.path.name, images, cache_dir=int8.cache_path.parent)
    assert again.cache_hit and again.cache_path == int8.cache_path
