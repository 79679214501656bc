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
from grace_edge.engine.quantize_cpu import DEFAULT_LAYOUT, LAYOUT, cpu_settings, non_silu_nodes, quantize_int8_cpu
from grace_edge.data.calibration import calibration_images
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


@pytest.fixture(scope="module")
def int8_silu(fp32_onnx: Path, images: list[Path]):
    return quantize_int8_cpu(fp32_onnx, fp32_onnx.with_name("grace-n_int8silu.onnx"), images, layout="silu")


def test_cpu_layout_uint8_activations_int8_weights_quantized_conv_outputs(fp32_onnx: Path, int8_silu) -> None:
    """The first CPU layout ("silu"): head outputs and Lite-FEN gates float, everything else as in the default."""
    model = onnx.load(str(int8_silu.path))
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


# --- the "integer" layout (the default): Split, Lite-FEN gates and residual, head outputs quantized; exact rewrites


def _optimized(path: Path, tmp_path: Path) -> onnx.ModelProto:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / f"{path.stem}-optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(options.optimized_model_filepath)


def test_integer_layout_quantizes_gates_splits_and_head_outputs(fp32_onnx: Path, int8) -> None:
    assert read_onnx_meta(int8.path).source["cpu_layout"] == DEFAULT_LAYOUT == "integer"
    model = onnx.load(str(int8.path))
    producer = {o: n for n in model.graph.node for o in n.output}
    by_name = {n.name: n for n in model.graph.node}
    fp32 = onnx.load(str(fp32_onnx))
    name_nodes(fp32)
    regions = find_regions(fp32)

    def dq_fed(node: onnx.NodeProto) -> bool:
        return any(i in producer and producer[i].op_type == "DequantizeLinear" for i in node.input[:1])

    gates = [by_name[n] for n in non_silu_nodes(fp32) - regions.decode - regions.preprocess if n in by_name]
    assert gates and all(dq_fed(n) for n in gates), [n.name for n in gates if not dq_fed(n)]
    splits = [n for n in model.graph.node if n.op_type == "Split" and n.name not in regions.decode]
    assert splits and all(dq_fed(n) for n in splits)
    for name in regions.head_outputs:  # integer convolution, output quantized
        conv = by_name[name]
        assert producer[conv.input[1]].op_type == "DequantizeLinear", name
    for name in regions.preprocess:  # still float
        if name in by_name:
            assert not dq_fed(by_name[name]), name
    quantized = {n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    for name in regions.decode:  # float: it reads the dequantized head outputs and quantizes nothing
        if name in by_name:
            assert not set(by_name[name].output) & quantized, name


def test_integer_layout_leaves_onnxruntime_no_float_island(int8, int8_silu, tmp_path: Path) -> None:
    """ORT's QDQ rules: a DQ -> op -> Q group becomes one integer kernel (or the Q/DQ are dropped around a
    data-movement op). With the integer layout the only DequantizeLinear left after ORT's optimizer feed the float
    decode (one per head output); the first layout also dequantized into Splits, the head's float convolutions and
    the Lite-FEN gates. No Resize runs on uint8 (the neck's upsample is Reshape/Expand on the codes)."""
    opt, silu = _optimized(int8.path, tmp_path), _optimized(int8_silu.path, tmp_path)
    ops, silu_ops = (collections.Counter(n.op_type for n in m.graph.node) for m in (opt, silu))
    assert ops["Conv"] == 0 and ops["Sigmoid"] <= 1, ops  # the decode's class sigmoid is the one float Sigmoid
    assert ops["QLinearConv"] == silu_ops["QLinearConv"] + silu_ops["Conv"]  # the head's float convs joined
    assert ops["DequantizeLinear"] < silu_ops["DequantizeLinear"], (ops, silu_ops)
    producer = {o: n for n in opt.graph.node for o in n.output}
    for n in opt.graph.node:
        if n.op_type == "Resize":
            assert not (n.input[0] in producer and producer[n.input[0]].op_type.startswith("QLinear")), n.name


def test_gray_fold_is_exact_within_float_summation(fp32_onnx: Path) -> None:
    """conv([x, x, x], W) = conv(x, W.sum(1)): the same sums in another order. Float32 summation of n terms errs by
    at most gamma_n * sum |w x| (gamma_n = n u / (1 - n u), u = 2^-24) in each; both sides have n = 27 + bias."""
    import onnxruntime as ort
    from onnx import helper, numpy_helper as nh

    from grace_edge.engine.cpu_graph import fold_gray_channels

    model = onnx.load(str(fp32_onnx))
    name_nodes(model)
    first = next(n for n in model.graph.node if n.op_type == "Conv")
    model.graph.output.append(helper.make_tensor_value_info(first.output[0], onnx.TensorProto.FLOAT, None))
    folded = onnx.load(str(fp32_onnx))
    name_nodes(folded)
    assert fold_gray_channels(folded) == 1
    folded.graph.output.append(helper.make_tensor_value_info(first.output[0], onnx.TensorProto.FLOAT, None))
    assert not any(n.op_type == "Concat" and len(set(n.input)) == 1 and len(n.input) == 3 for n in folded.graph.node)
    x = np.random.default_rng(3).integers(0, 256, (1, 200, 200, 1), dtype=np.uint8)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    a, b = (ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
            .run([first.output[0]], {"images": x})[0] for m in (model, folded))
    w = np.abs(next(nh.to_array(t) for t in model.graph.initializer if t.name == first.input[1])).sum(axis=(1, 2, 3))
    u, n = 2.0 ** -24, 28
    gamma = n * u / (1 - n * u)
    bias = np.abs(next(nh.to_array(t) for t in model.graph.initializer if t.name == first.input[2]))
    bound = 2 * gamma * (w * 1.0 + bias)  # inputs in [0, 1]: sum |w x| <= sum |w|
    assert (np.abs(a - b) <= bound[None, :, None, None] + 1e-30).all(), np.abs(a - b).max()


def _upsample_graph(out_scale: float) -> onnx.ModelProto:
    from onnx import TensorProto as T, helper, numpy_helper as nh

    def const(name: str, value, dtype) -> onnx.TensorProto:
        return nh.from_array(np.array(value, dtype), name)

    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["f"], name="dq"),
             helper.make_node("Resize", ["f", "", "scales"], ["r"], name="up", mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("QuantizeLinear", ["r", "s2", "z"], ["y"], name="q")]
    graph = helper.make_graph(nodes, "up", [helper.make_tensor_value_info("x", T.UINT8, [1, 3, 5, 7])],
                              [helper.make_tensor_value_info("y", T.UINT8, [1, 3, 10, 14])],
                              [const("s", 0.05, np.float32), const("s2", out_scale, np.float32),
                               const("z", 7, np.uint8), const("scales", [1, 1, 2, 2], np.float32)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_integer_upsample_is_bit_exact() -> None:
    """Nearest 2x between a DQ and a Q with equal parameters is the identity on the uint8 codes: the rewrite gives
    the same output bit for bit; with other parameters (a real requantization) it is left alone."""
    import onnxruntime as ort

    from grace_edge.engine.cpu_graph import integer_upsample

    x = np.random.default_rng(5).integers(0, 256, (1, 3, 5, 7), dtype=np.uint8)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(  # noqa: E731
        None, {"x": x})[0]
    model = _upsample_graph(0.05)
    before = run(model)
    assert integer_upsample(model) == 1 and not any(n.op_type in ("Resize", "DequantizeLinear") for n in model.graph.node)
    assert np.array_equal(run(model), before)
    other = _upsample_graph(0.1)
    assert integer_upsample(other) == 0


def test_shipped_integer_graph_has_no_neck_resize(int8) -> None:
    from grace_edge.engine.cpu_graph import integer_upsample

    model = onnx.load(str(int8.path))
    assert not any(n.op_type == "Resize" and n.name.startswith("/model/") for n in model.graph.node)
    assert sum(n.op_type == "Expand" and n.name.endswith("_expand") for n in model.graph.node) == 2
    assert integer_upsample(model) == 0  # nothing left to replace
