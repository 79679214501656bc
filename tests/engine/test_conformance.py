"""TensorRT conformance check: each rule fires on a small hand-made bad graph and stays quiet on its good twin.

The graphs are built with onnx.helper, so every test states exactly what TensorRT's parser would see.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from grace_edge.engine.conformance import LINES, SUPPORT_DIR, Violation, check_file, check_model, line_for, parser_rules
from grace_edge.errors import ArtifactError

REPO = Path(__file__).resolve().parents[2]


def vi(name: str, dtype: int, shape: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def const(name: str, values, dtype=None) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def make(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def rules_of(model: onnx.ModelProto, lines=LINES) -> dict[str, list[Violation]]:
    found: dict[str, list[Violation]] = {}
    for v in check_model(model, lines):
        found.setdefault(v.rule, []).append(v)
    return found


# --- a graph with every feature of ours, built the TensorRT way: must pass ------------------------------------------


def good_graph() -> onnx.ModelProto:
    """uint8 camera input -> Cast -> Reshape -> Resize -> Q/DQ Conv (per-channel weights) -> TopK (K constant)."""
    w = np.random.default_rng(0).normal(size=(4, 1, 3, 3)).astype(np.float32)
    w_scale = np.abs(w).reshape(4, -1).max(1) / 127
    nodes = [
        helper.make_node("Cast", ["images"], ["f"], name="cast", to=T.FLOAT),
        helper.make_node("Reshape", ["f", "nchw"], ["x"], name="to_nchw"),
        helper.make_node("Resize", ["x", "", "scales"], ["r"], name="resize", mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("QuantizeLinear", ["r", "a_scale", "a_zp"], ["rq"], name="q_act"),
        helper.make_node("DequantizeLinear", ["rq", "a_scale", "a_zp"], ["rd"], name="dq_act"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="dq_w", axis=0),
        helper.make_node("Conv", ["rd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["c", "flat"], ["cf"], name="flatten"),
        helper.make_node("TopK", ["cf", "k"], ["scores", "idx"], name="topk"),
    ]  # fmt: skip
    inits = [
        const("nchw", [1, 1, 8, 8], np.int64), const("scales", [1, 1, 2, 2], np.float32),
        const("a_scale", 0.01, np.float32), const("a_zp", 0, np.int8),
        numpy_helper.from_array(np.round(w / w_scale[:, None, None, None]).astype(np.int8), "w_q"),
        const("w_scale", w_scale, np.float32), const("w_zp", np.zeros(4), np.int8),
        const("flat", [1, -1], np.int64), const("k", [5], np.int64),
    ]  # fmt: skip
    return make(nodes, [vi("images", T.UINT8, [1, 8, 8, 1])],
                [vi("scores", T.FLOAT, [1, 5]), vi("idx", T.INT64, [1, 5])], inits)  # fmt: skip


def test_good_graph_passes_every_line() -> None:
    assert check_model(good_graph()) == []


# --- each rule on a small bad graph -----------------------------------------------------------------------------


def _edit(model: onnx.ModelProto, node: str, **attrs) -> onnx.ModelProto:
    """The good graph with ``node``'s attributes replaced (a bad twin that differs in one place)."""
    n = next(n for n in model.graph.node if n.name == node)
    kept = [a for a in n.attribute if a.name not in attrs]
    del n.attribute[:]
    n.attribute.extend(kept + [helper.make_attribute(k, v) for k, v in attrs.items()])
    return model


def _replace_init(model: onnx.ModelProto, name: str, values, dtype=None) -> onnx.ModelProto:
    inits = [t for t in model.graph.initializer if t.name != name] + [const(name, values, dtype)]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    return model


def test_todays_uint8_graph_fails(tmp_path: Path) -> None:
    """What the exporter emitted before the fix: Transpose on the uint8 input, then Cast (torch's own export)."""

    class OldOrder(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)

    path = tmp_path / "old.onnx"
    torch.onnx.export(OldOrder(), (torch.zeros(1, 8, 8, 1, dtype=torch.uint8),), str(path), dynamo=False,
                      input_names=["images"], output_names=["x"], opset_version=17)  # fmt: skip
    found = {(v.rule, v.op, v.dtype) for v in check_file(path)}
    assert ("uint8-cast", "Transpose", "UINT8") in found  # a UINT8 input may feed only a Cast
    assert ("uint8-io-only", "Transpose", "UINT8") in found  # and the Transpose makes a UINT8 intermediate


def test_uint8_input_must_feed_a_cast_to_float() -> None:
    model = _edit(good_graph(), "cast", to=T.INT32)
    (v,) = rules_of(model)["uint8-cast"]
    assert (v.node, v.op, v.dtype) == ("cast", "Cast", "UINT8")


def test_uint8_only_as_network_io() -> None:
    nodes = [helper.make_node("Cast", ["x"], ["u"], name="to_u8", to=T.UINT8),
             helper.make_node("Cast", ["u"], ["y"], name="back", to=T.FLOAT)]  # fmt: skip
    model = make(nodes, [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])])
    (v,) = rules_of(model)["uint8-io-only"]
    assert (v.node, v.dtype) == ("to_u8", "UINT8")


def test_uint8_output_must_come_from_a_float_cast() -> None:
    nodes = [helper.make_node("Cast", ["x"], ["i"], name="to_i32", to=T.INT32),
             helper.make_node("Cast", ["i"], ["u"], name="to_u8", to=T.UINT8)]  # fmt: skip
    bad = make(nodes, [vi("x", T.FLOAT, [4])], [vi("u", T.UINT8, [4])])
    assert [v.node for v in rules_of(bad)["uint8-cast"]] == ["to_u8"]
    good = make([helper.make_node("Cast", ["x"], ["u"], name="to_u8", to=T.UINT8)], [vi("x", T.FLOAT, [4])],
                [vi("u", T.UINT8, [4])])  # fmt: skip
    assert check_model(good) == []


def test_unsupported_op_and_custom_domain() -> None:
    nodes = [helper.make_node("Unique", ["x"], ["u"], name="unique"),
             helper.make_node("EfficientNMS_TRT", ["x"], ["n"], name="plugin", domain="trt.plugins")]  # fmt: skip
    model = make(nodes, [vi("x", T.FLOAT, [4])], [vi("u", T.FLOAT, [None]), vi("n", T.FLOAT, [4])])
    assert sorted(v.node for v in rules_of(model)["op-unsupported"]) == ["plugin", "unique"]


@pytest.mark.parametrize(
    "op, dtype",
    [("MatMul", T.INT64), ("Equal", T.BOOL), ("Add", T.DOUBLE)],  # INT64 and BOOL handling, DOUBLE narrowing
)
def test_op_dtype_outside_the_matrix(op: str, dtype: int) -> None:
    out_type = T.BOOL if op == "Equal" else dtype
    model = make([helper.make_node(op, ["a", "b"], ["y"], name="n")], [vi("a", dtype, [2, 2]), vi("b", dtype, [2, 2])],
                 [vi("y", out_type, [2, 2])])  # fmt: skip
    violations = rules_of(model)["op-dtype"]
    assert {(v.node, v.op, v.dtype) for v in violations} == {("n", op, T.DataType.Name(dtype))}


def test_supported_int64_and_bool_pass() -> None:
    nodes = [helper.make_node("Add", ["a", "b"], ["s"], name="add"),  # INT64 Add: in the matrix
             helper.make_node("Equal", ["s", "b"], ["e"], name="eq"),
             helper.make_node("Not", ["e"], ["y"], name="not")]  # BOOL Not: in the matrix
    model = make(nodes, [vi("a", T.INT64, [2]), vi("b", T.INT64, [2])], [vi("y", T.BOOL, [2])])
    assert check_model(model) == []


def _squeeze(axes_input: bool) -> onnx.ModelProto:
    inputs = [vi("x", T.FLOAT, [1, 4]), *([vi("axes", T.INT64, [1])] if axes_input else [])]
    inits = [] if axes_input else [const("axes", [0], np.int64)]
    return make([helper.make_node("Squeeze", ["x", "axes"], ["y"], name="sq")], inputs, [vi("y", T.FLOAT, [4])], inits)


def test_constant_input() -> None:
    (v,) = rules_of(_squeeze(axes_input=True))["constant-input"]
    assert (v.node, v.op, v.dtype, v.lines) == ("sq", "Squeeze", "INT64", LINES)
    assert check_model(_squeeze(axes_input=False)) == []


def test_slice_axes_rule_differs_by_line() -> None:
    """10.1-GA's matrix needs constant Slice axes; 11.x takes a tensor: the data per line is what is checked."""
    names = ["x", "starts", "ends", "axes"]
    inputs = [vi("x", T.FLOAT, [4, 4]), *(vi(n, T.INT64, [1]) for n in names[1:])]
    model = make([helper.make_node("Slice", names, ["y"], name="sl")], inputs, [vi("y", T.FLOAT, [None, 4])])
    constant_rules = [v for v in check_model(model) if v.rule == "constant-input"]
    assert [v.lines for v in constant_rules] == [("10.3",)]


def test_required_value_topk_sorted() -> None:
    (v,) = rules_of(_edit(good_graph(), "topk", sorted=0))["required-value"]
    assert (v.node, v.op) == ("topk", "TopK") and "sorted=0" in v.detail


@pytest.mark.parametrize("attr, value", [("mode", "cubic"), ("coordinate_transformation_mode", "tf_crop_and_resize")])
def test_resize_modes(attr: str, value: str) -> None:
    (v,) = rules_of(_edit(good_graph(), "resize", **{attr: value}))["attribute-value"]
    assert (v.node, v.op, v.dtype) == ("resize", "Resize", "FLOAT") and value in v.detail


def test_topk_k_limit_and_constant_k() -> None:
    (v,) = rules_of(_replace_init(good_graph(), "k", [3840], np.int64))["topk-k-max"]
    assert "K=3840" in v.detail  # NvInfer.h allows it, operators.md does not: the stricter one holds
    at_limit = _replace_init(good_graph(), "k", [3839], np.int64)
    assert "topk-k-max" not in rules_of(at_limit)  # the limit itself is allowed
    model = good_graph()
    model.graph.input.append(vi("k_runtime", T.INT64, [1]))
    next(n for n in model.graph.node if n.name == "topk").input[1] = "k_runtime"
    assert "run time" in rules_of(model)["topk-k-max"][0].detail


def test_topk_limit_is_the_exporters() -> None:
    from grace_edge.export.topk import TRT_TOPK_MAX

    assert parser_rules()["topk-k-max"]["max"] == TRT_TOPK_MAX


@pytest.mark.parametrize("line", LINES)
def test_topk_limit_is_the_stricter_of_nvidias_two(line: str) -> None:
    """operators.md: K < 3840 (k_less_than); NvInfer.h ITopKLayer: up to 3840. The rule must satisfy both."""
    from grace_edge.engine.conformance import load_support

    assert parser_rules()["topk-k-max"]["max"] == load_support(line).operators["TopK"]["k_less_than"] - 1 <= 3840


def _maxpool(**attrs) -> onnx.ModelProto:
    outputs = attrs.pop("outputs", ["y"])
    node = helper.make_node("MaxPool", ["x"], outputs, name="pool", **{"kernel_shape": [2, 2], **attrs})
    return make([node], [vi("x", T.FLOAT, [1, 1, 8, 8])], [vi(o, T.FLOAT if o == "y" else T.INT64, None)
                                                              for o in outputs])


def test_maxpool_2d_3d_no_indices_unit_dilations() -> None:
    assert check_model(_maxpool()) == [] and check_model(_maxpool(dilations=[1, 1])) == []
    details = [v.detail for v in rules_of(_maxpool(dilations=[2, 2]))["maxpool"]]
    assert details == ["dilations=[2, 2]: TensorRT needs them empty or all 1"]
    (v,) = rules_of(_maxpool(outputs=["y", "idx"]))["maxpool"]
    assert (v.node, v.op) == ("pool", "MaxPool") and "Indices output 'idx'" in v.detail
    one_d = make([helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2])],
                 [vi("x", T.FLOAT, [1, 1, 8])], [vi("y", T.FLOAT, None)])
    assert "1D pooling" in rules_of(one_d)["maxpool"][0].detail


def test_scatternd_reduction_must_be_none() -> None:
    def scatter(**attrs) -> onnx.ModelProto:
        node = helper.make_node("ScatterND", ["data", "idx", "upd"], ["y"], name="scatter", **attrs)
        inits = [const("idx", [[0], [2]], np.int64), const("upd", [[1.0] * 4] * 2, np.float32)]
        return make([node], [vi("data", T.FLOAT, [4, 4])], [vi("y", T.FLOAT, [4, 4])], inits, opset=18)

    assert check_model(scatter()) == [] and check_model(scatter(reduction="none")) == []
    (v,) = rules_of(scatter(reduction="add"))["scatternd-reduction"]
    assert (v.node, v.op) == ("scatter", "ScatterND") and "reduction='add'" in v.detail


def _float_weight_qdq(w_scale: np.ndarray, axis: int = 0) -> onnx.ModelProto:
    """ModelOpt's weight form: float weights -> QuantizeLinear -> DequantizeLinear -> Conv (TensorRT folds the Q)."""
    model = good_graph()
    w = np.random.default_rng(0).normal(size=(4, 1, 3, 3)).astype(np.float32)
    dq_w = next(n for n in model.graph.node if n.name == "dq_w")
    dq_w.input[0] = "w_q_out"
    for a in dq_w.attribute:
        a.i = axis
    q_w = helper.make_node("QuantizeLinear", ["w_float", "w_scale", "w_zp"], ["w_q_out"], name="q_w", axis=axis)
    model.graph.node.insert(0, q_w)
    model = _replace_init(model, "w_float", w, np.float32)
    return _replace_init(model, "w_scale", w_scale, np.float32)


def test_float_weights_through_a_quantize_pass_and_per_channel_activations_still_fail() -> None:
    """ModelOpt's Q(float weights) -> DQ passes (it was 89 false violations on a grace-n graph); per-channel scales
    on a Q/DQ of a computed tensor still fail, in either position."""
    scales = np.full(4, 0.02, np.float32)
    assert check_model(_float_weight_qdq(scales)) == []
    wrong_axis = rules_of(_float_weight_qdq(scales, axis=1))["qdq-per-channel"]
    assert {v.node for v in wrong_axis} == {"q_w", "dq_w"} and all("axis is 1" in v.detail for v in wrong_axis)
    activation = _float_weight_qdq(scales)
    q_w = next(n for n in activation.graph.node if n.name == "q_w")
    q_w.input[0] = "r"  # the resized image: computed at run time, so it is an activation
    found = rules_of(activation)["qdq-per-channel"]
    assert {v.node for v in found} == {"q_w", "dq_w"} and all("activation" in v.detail for v in found)


def test_quantize_without_int8_zero_point() -> None:
    model = good_graph()
    q = next(n for n in model.graph.node if n.name == "q_act")
    del q.input[2]
    (v, *_) = rules_of(model)["qdq-int8"]  # the DQ then reads UINT8 too: a consequence, also reported
    assert (v.node, v.op) == ("q_act", "QuantizeLinear") and "no zero point" in v.detail
    uint8 = _replace_init(good_graph(), "a_zp", 0, np.uint8)
    assert {v.node for v in rules_of(uint8)["qdq-int8"]} == {"q_act", "dq_act"}


def test_asymmetric_zero_point() -> None:
    found = rules_of(_replace_init(good_graph(), "a_zp", 3, np.int8))
    assert {v.node for v in found["qdq-symmetric"]} == {"q_act", "dq_act"}
    assert "required-value" not in found  # one line per problem


def test_scales_must_be_positive() -> None:
    found = rules_of(_replace_init(good_graph(), "a_scale", -0.01, np.float32))["qdq-scale"]
    assert {v.node for v in found} == {"q_act", "dq_act"}  # both use that scale


def test_per_channel_only_on_weights_along_axis_0() -> None:
    no_axis = good_graph()
    dq = next(n for n in no_axis.graph.node if n.name == "dq_w")
    del dq.attribute[:]
    assert "not set" in rules_of(no_axis)["qdq-per-channel"][0].detail
    wrong_count = _replace_init(good_graph(), "w_scale", [0.1, 0.1], np.float32)
    wrong_count = _replace_init(wrong_count, "w_zp", [0, 0], np.int8)
    assert "one per output channel" in rules_of(wrong_count)["qdq-per-channel"][0].detail
    per_channel_act = _replace_init(good_graph(), "a_scale", [0.1] * 2, np.float32)
    per_channel_act = _replace_init(per_channel_act, "a_zp", [0] * 2, np.int8)
    assert any("activation" in v.detail for v in rules_of(per_channel_act)["qdq-per-channel"])


def test_quantized_types_only_through_qdq() -> None:
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="q"),
             helper.make_node("Reshape", ["q", "shape"], ["y"], name="reshape_int8")]  # fmt: skip
    inits = [const("s", 0.1, np.float32), const("zp", 0, np.int8), const("shape", [4], np.int64)]
    model = make(nodes, [vi("x", T.FLOAT, [2, 2])], [vi("y", T.INT8, [4])], inits)
    found = rules_of(model)["quantized-qdq"]
    details = {v.detail for v in found if (v.node, v.op, v.dtype) == ("reshape_int8", "Reshape", "INT8")}
    assert details == {"reads INT8 'q': quantized types may only feed DequantizeLinear",
                       "'y' is INT8 but not made by QuantizeLinear"}


def test_topological_order() -> None:
    model = good_graph()
    nodes = list(model.graph.node)
    nodes[0], nodes[1] = nodes[1], nodes[0]  # Reshape now reads the Cast's output before the Cast
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    (v,) = rules_of(model)["topological-order"]
    assert (v.node, v.op, v.dtype) == ("to_nchw", "Reshape", "FLOAT")


def test_opset_range_per_line() -> None:
    model = make([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", T.FLOAT, [2])], [vi("y", T.FLOAT, [2])],
                 opset=21)  # fmt: skip
    assert [v.lines for v in rules_of(model)["opset"]] == [("10.3",)]  # 10.x: opset 9-20; 11.x: 9-24


def test_violation_is_one_line_naming_node_op_dtype_and_rule() -> None:
    model = _edit(good_graph(), "cast", to=T.INT32)
    line = str(next(v for v in check_model(model) if v.rule == "uint8-cast"))
    assert "\n" not in line
    assert re.fullmatch(r"cast \[Cast\] UINT8: .+ \(rule uint8-cast; TensorRT 10\.3, 11\)", line)


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="bad.onnx: not a readable ONNX model"):
        check_file(bad)


@pytest.mark.parametrize("version, lines", [("10.3.0.26", ("10.3",)), ("10.13.1", ("10.3",)), ("11.4.0", ("11",)),
                                            (None, LINES)])  # fmt: skip
def test_line_for_installed_version(version, lines) -> None:
    assert line_for(version) == lines


# --- the data files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", LINES)
def test_matrix_names_its_source_and_covers_our_ops(line: str) -> None:
    data = json.loads((SUPPORT_DIR / f"operators-{line}.json").read_text())
    source = data["source"]
    assert data["tensorrt_line"] == line and source["repo"] == "onnx/onnx-tensorrt"
    assert source["path"] == "docs/operators.md" and re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    ops = data["operators"]
    assert len(ops) > 150 and ops["Conv"]["supported"] and "UINT8" in ops["Cast"]["types"]
    assert not ops["Unique"]["supported"]


def test_generator_parses_a_matrix(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import trt_operators_to_json as gen
    finally:
        sys.path.remove(str(REPO / "tools"))
    rows = "\n".join(f"| Op{i} | N |" for i in range(100))
    text = ("TensorRT 9.9 supports operators in the inclusive range of opset 9 to opset 21.\n"
            "| Operator | Supported | Supported Types | Restrictions |\n|---|---|---|---|\n"
            "| TopK | Y | FP32, FP16, INT64 | `sorted` must be 1. `K` input must be less than 3840.\n"
            "| Squeeze | Y | FP32, BOOL | `axes` must be resolvable to a constant. |\n"
            "| STFT | Y | FP32 | `frame_step` and `window` must be an initializer.\n"
            "| Resize | Y | FP32 | Supported resize modes: `nearest`, `linear`.<br />Antialiasing is not supported.|\n"
            "| Odd | Y | FP32, INF64 |\n" + rows)  # fmt: skip
    data = gen.convert(text, "9.9", "onnx/onnx-tensorrt", "docs/operators.md", "x", "0" * 40, "")
    ops = data["operators"]
    assert data["opset"] == [9, 21] and ops["TopK"]["types"] == ["FLOAT", "FLOAT16", "INT64"]
    assert ops["TopK"]["required_values"] == {"sorted": 1} and ops["TopK"]["k_less_than"] == 3840
    assert ops["Squeeze"]["constant_inputs"] == ["axes"] and ops["STFT"]["constant_inputs"] == ["frame_step", "window"]
    assert ops["Resize"]["allowed_attributes"] == {"mode": ["nearest", "linear"], "antialias": [0]}
    assert ops["Odd"] == {"supported": True, "types": ["FLOAT"], "unparsed_types": ["INF64"]}
    assert not ops["Op0"]["supported"]
    assert gen.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git hash-object of an empty file
    assert data["source"]["text_blob"] == hashlib.sha1(b"blob %d\0" % len(text) + text.encode()).hexdigest()


def test_data_files_ship_with_the_package() -> None:
    from fnmatch import fnmatch

    from setuptools.config.setupcfg import read_configuration

    patterns = read_configuration(str(REPO / "setup.cfg"))["options"]["package_data"]["grace_edge"]
    for path in SUPPORT_DIR.glob("*.json"):
        relative = path.relative_to(REPO / "grace_edge").as_posix()
        assert any(fnmatch(relative, p) for p in patterns), f"{relative} is not in setup.cfg's package_data"


# --- every graph export/build makes passes; build() runs the check before TensorRT's parser ------------------------

EXPORTS = {  # name: (raw_input, dynamic batch)
    "raw-gray": ((200, 200, 1), False),
    "raw-gray-dynamic": ((200, 200, 1), True),
    "float": (None, False),
    "float-dynamic": (None, True),
    "raw-bgr": ((150, 220, 3), False),  # the 3-channel path (Cast, then Transpose) and a letterbox with padding
}
VARIANTS = [
    pytest.param(precision, name, marks=[pytest.mark.data] if precision == "int8" else [], id=f"{precision}-{name}")
    for precision in ("fp32", "fp16", "int8")
    for name in EXPORTS
    if (precision, name) != ("int8", "raw-bgr")  # INT8 calibrates on NEU-DET's 200x200 images: build refuses 150x220
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    out, model = tmp_path_factory.mktemp("variants"), build_model("grace-n")
    return {
        name: export_onnx(model, out / f"{name}.onnx", imgsz=64, raw_input=raw, batch=2 if dynamic else 1,
                          dynamic_batch=dynamic)
        for name, (raw, dynamic) in EXPORTS.items()
    }  # fmt: skip


def _force_backend(monkeypatch: pytest.MonkeyPatch, backend: str) -> list[tuple]:
    """build() as on a machine with (or without) TensorRT; returns the calls that reached TensorRT's builder."""
    from grace_edge.engine import pipeline, tensorrt_build

    gpu = tensorrt_build.GpuInfo("Orin", "8.7") if backend == "tensorrt" else None
    monkeypatch.setattr(pipeline, "choose_backend", lambda required: (backend, gpu, "forced by the test"))
    monkeypatch.setattr(tensorrt_build, "tensorrt_version", lambda: "10.3.0" if backend == "tensorrt" else None)
    parsed: list[tuple] = []
    monkeypatch.setattr(tensorrt_build, "build_engine", lambda *args, **kwargs: parsed.append(args))
    return parsed


@pytest.mark.parametrize("precision, name", VARIANTS)
def test_every_graph_build_makes_passes(precision, name, exported, request, monkeypatch, tmp_path) -> None:
    """FP32/FP16: the CPU model is the graph TensorRT would parse. INT8 is laid out per target (issue 14): the graph
    handed to TensorRT's builder is checked (the CPU model's uint8 layout is for CPU runtimes only)."""
    from grace_edge.engine import tensorrt_build
    from grace_edge.engine.pipeline import BuildOptions, build

    _force_backend(monkeypatch, "tensorrt" if precision == "int8" else "onnxruntime")
    violations: list = []
    if precision == "int8":
        class Built:
            engine, tensorrt_version, notes = b"fake engine", "10.3.0", []

        def fake_build_engine(onnx_path, **kwargs):
            violations.extend(check_file(onnx_path))
            return Built()

        monkeypatch.setattr(tensorrt_build, "build_engine", fake_build_engine)
    data = request.getfixturevalue("tiny_dataset") if precision == "int8" else None
    logged: list[str] = []
    out = tmp_path / ("m.engine" if precision == "int8" else "m.onnx")
    options = BuildOptions(precision=precision, onnx=exported[name], data=data, calib_images=2, gate=False, out=out)
    report = build(options, log=logged.append)
    if precision != "int8":
        violations = check_file(report.path)  # the CPU model is the graph TensorRT would parse
    assert violations == [], "\n".join(map(str, violations))
    assert any(line.startswith("TensorRT conformance: the graph follows") for line in logged)
    assert not [n for n in report.notes if "would not build on TensorRT" in n]


def _unsorted(src: Path, dst: Path) -> Path:
    """``src`` with its first computing node moved to the end: ONNX Runtime still runs it, TensorRT's rules fail."""
    from grace_edge.artifact import onnx_meta, set_onnx_meta

    model = onnx.load(str(src))
    meta = onnx_meta(model, str(src))
    nodes = list(model.graph.node)
    nodes.append(nodes.pop(next(i for i, n in enumerate(nodes) if n.op_type != "Constant")))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    set_onnx_meta(model, meta)  # sealed again: this edit is deliberate, so the digest check at open must pass
    onnx.save(model, str(dst))
    return dst


def test_engine_build_stops_before_the_parser(exported, monkeypatch, tmp_path) -> None:
    from grace_edge.engine.pipeline import BuildOptions, build

    parsed = _force_backend(monkeypatch, "tensorrt")
    bad = _unsorted(exported["raw-gray"], tmp_path / "bad.onnx")
    logged: list[str] = []
    with pytest.raises(ArtifactError, match=r"TensorRT would reject this graph: 1 violation.*topological-order"):
        build(BuildOptions(precision="fp32", onnx=bad, out=tmp_path / "m.engine"), log=logged.append)
    assert parsed == [] and not (tmp_path / "m.engine").exists()
    assert [line for line in logged if "topological-order" in line]  # every violation listed, one line each


def test_cpu_build_warns_in_one_line(exported, monkeypatch, tmp_path) -> None:
    from grace_edge.engine.pipeline import BuildOptions, build

    _force_backend(monkeypatch, "onnxruntime")
    bad = _unsorted(exported["raw-gray"], tmp_path / "bad.onnx")
    report = build(BuildOptions(precision="fp32", onnx=bad, out=tmp_path / "m.onnx"), log=lambda line: None)
    (warning,) = [n for n in report.notes if "would not build on TensorRT" in n]
    assert warning.startswith("WARNING:") and "topological-order" in warning and "\n" not in warning
    assert report.path.is_file()
