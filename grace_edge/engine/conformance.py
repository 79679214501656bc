"""Does TensorRT's ONNX parser accept this graph? Checked here, without TensorRT or a GPU.

The rules are data (``tensorrt_support/``): onnx-tensorrt's operator x type matrix for each TensorRT line we target
(``operators-<line>.json``, made by ``tools/trt_operators_to_json.py`` from ``docs/operators.md``) and the parser
rules that table does not carry (``parser_rules.json``: UINT8 only as network I/O and only through a Cast, quantized
types only through Q/DQ, symmetric INT8 Q/DQ, TopK's K limit, MaxPool's and ScatterND's restrictions, topological
order), each naming its source.
Every violation is one line naming node, op, element type and rule. Passing is necessary, not sufficient: only a
build on a GPU proves an engine (see ``grace-edge doctor``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from grace_edge.errors import ArtifactError

SUPPORT_DIR = Path(__file__).with_name("tensorrt_support")
LINES = ("10.3", "11")  # JetPack 6.1+ ships TensorRT 10.3; the `tensorrt` metapackage now installs 11.x
_ALL = None  # every input of the node carries the op's element type
# Which inputs carry the element type the matrix lists (others are indices, shapes, axes...): default input 0.
_TYPED_INPUTS: dict[str, tuple[int, ...] | None] = {
    **dict.fromkeys(["Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Mod", "Concat", "Equal", "Greater",
                     "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor", "MatMul", "Gemm", "Conv",
                     "ConvTranspose", "PRelu"], _ALL),
    "Where": (1, 2),
}  # fmt: skip
_NO_INPUT_OPS = {"Constant", "ConstantOfShape"}  # their type is their output's
_QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class Violation:
    node: str
    op: str
    dtype: str
    rule: str
    detail: str
    lines: tuple[str, ...] = LINES

    def __str__(self) -> str:
        where = f"{self.node} [{self.op}] {self.dtype}"
        return f"{where}: {self.detail} (rule {self.rule}; TensorRT {', '.join(self.lines)})"


@dataclass(frozen=True)
class Support:
    """One TensorRT line's operator matrix (see operators-<line>.json)."""

    line: str
    opset: tuple[int, int]
    operators: dict[str, dict[str, Any]]
    source: dict[str, str]


@lru_cache(maxsize=None)
def load_support(line: str) -> Support:
    path = SUPPORT_DIR / f"operators-{line}.json"
    if not path.is_file():
        raise ArtifactError(f"no TensorRT support matrix for line {line!r} ({path.name}); known: {', '.join(LINES)}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return Support(data["tensorrt_line"], tuple(data["opset"]), data["operators"], data["source"])


@lru_cache(maxsize=None)
def parser_rules() -> dict[str, dict[str, Any]]:
    return json.loads((SUPPORT_DIR / "parser_rules.json").read_text(encoding="utf-8"))["rules"]


def line_for(tensorrt_version: str | None) -> tuple[str, ...]:
    """The matrix lines to check for an installed TensorRT version (all of them when unknown)."""
    major = str(tensorrt_version or "").split(".")[0]
    if major == "10":
        return ("10.3",)  # the oldest 10.x we support: a graph it takes, later 10.x take too
    if major.isdigit() and int(major) >= 11:
        return ("11",)
    return LINES


def type_name(elem_type: int | None) -> str:
    return TensorProto.DataType.Name(elem_type) if elem_type else "-"


class Graph:
    """Indexes over one ONNX graph: element types, producers, consumers and constant values."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.nodes = list(model.graph.node)
        g = _inferred(model).graph
        self.types = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
        self.constants: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.types.update({t.name: t.data_type for t in g.initializer})
        for node in self.nodes:
            if node.op_type == "Constant" and (value := _constant_value(node)) is not None:
                self.constants[node.output[0]] = value
        self.inputs = {i.name for i in g.input if i.name not in self.constants}
        self.outputs = {o.name for o in g.output}
        self.producer = {out: n for n in self.nodes for out in n.output if out}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for n in self.nodes:
            for name in n.input:
                self.consumers[name].append(n)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)

    def label(self, node: onnx.NodeProto) -> str:
        return node.name or f"(unnamed, output {node.output[0] if node.output else '?'})"

    def flag(self, node: onnx.NodeProto, dtype: str, rule: str, detail: str) -> Violation:
        return Violation(self.label(node), node.op_type, dtype, rule, detail)

    def dtype(self, name: str) -> str:
        return type_name(self.types.get(name))

    def input(self, node: onnx.NodeProto, index: int) -> str:
        """Name of ``node``'s input ``index``, or "" when it is absent (optional inputs may be left out)."""
        return node.input[index] if index < len(node.input) else ""


def _inferred(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with inferred element types; as declared when inference fails (e.g. on a custom domain)."""
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # InferenceError and friends: the rules still run on the types the file declares
        return model


def _constant_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name.startswith("value_") and attr.name not in ("value_string", "value_strings"):
            return np.asarray(onnx.helper.get_attribute_value(attr))
    return None


def check_model(model: onnx.ModelProto, lines: Sequence[str] = LINES) -> list[Violation]:
    """Every TensorRT conformance violation of ``model`` for the given release lines (one per problem)."""
    graph = Graph(model)
    found: dict[tuple[str, str, str, str, str], list[str]] = {}
    for line in lines:
        for v in _violations(graph, load_support(line)):
            found.setdefault((v.node, v.op, v.dtype, v.rule, v.detail), []).append(line)
    return [Violation(*key, tuple(found_in)) for key, found_in in found.items()]


def check_file(path: str | Path, lines: Sequence[str] = LINES) -> list[Violation]:
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as e:  # DecodeError and others for a foreign or truncated file
        raise ArtifactError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    return check_model(model, lines)


def _violations(graph: Graph, support: Support) -> Iterator[Violation]:
    yield from _check_opset(graph, support)
    yield from _check_order(graph)
    for node in graph.nodes:
        yield from _check_node(graph, node, support)
    yield from _check_uint8(graph)
    yield from _check_quantized_types(graph)


# --- whole-graph rules --------------------------------------------------------------------------------------------


def _check_opset(graph: Graph, support: Support) -> Iterator[Violation]:
    lo, hi = support.opset
    if not lo <= graph.opset <= hi:
        yield Violation("(graph)", "-", "-", "opset", f"opset {graph.opset} is outside TensorRT's {lo}-{hi}")


def _check_order(graph: Graph) -> Iterator[Violation]:
    available = set(graph.inputs) | set(graph.constants) | {""}
    for node in graph.nodes:
        for name in node.input:
            if name not in available and name in graph.producer:
                later = graph.label(graph.producer[name])
                detail = f"reads {name!r} before its producer {later} (nodes must be topologically sorted)"
                yield graph.flag(node, graph.dtype(name), "topological-order", detail)
        available.update(node.output)


def _check_uint8(graph: Graph) -> Iterator[Violation]:
    for name, t in graph.types.items():
        if t != TensorProto.UINT8 or name in graph.constants:  # UINT8 weights are widened to INT32 by the parser
            continue
        producer = graph.producer.get(name)
        if name in graph.inputs:
            yield from _check_uint8_input(graph, name)
        elif name not in graph.outputs and producer is not None:
            detail = f"makes UINT8 tensor {name!r}: UINT8 is allowed only as a network input or output"
            yield graph.flag(producer, "UINT8", "uint8-io-only", detail)
        if name in graph.outputs and producer is not None and not _is_float_cast(graph, producer, from_float=True):
            detail = f"makes UINT8 output {name!r}: it must come from a Cast of FLOAT/FLOAT16"
            yield graph.flag(producer, "UINT8", "uint8-cast", detail)


def _check_uint8_input(graph: Graph, name: str) -> Iterator[Violation]:
    for node in graph.consumers.get(name, ()):
        if not _is_float_cast(graph, node, from_float=False):
            detail = f"reads UINT8 input {name!r}: a UINT8 input may feed only a Cast to FLOAT/FLOAT16"
            yield graph.flag(node, "UINT8", "uint8-cast", detail)


def _is_float_cast(graph: Graph, node: onnx.NodeProto, from_float: bool) -> bool:
    """``node`` is a Cast to (or, ``from_float``, from) one of the types a UINT8 may be cast with."""
    floats = {getattr(TensorProto, t) for t in parser_rules()["uint8-cast"]["cast_types"]}
    other = graph.types.get(node.input[0]) if from_float and node.input else _attr(node, "to")
    return node.op_type == "Cast" and other in floats


def _check_quantized_types(graph: Graph) -> Iterator[Violation]:
    quantized = {getattr(TensorProto, t) for t in parser_rules()["quantized-qdq"]["types"] if hasattr(TensorProto, t)}
    for name, t in graph.types.items():
        if t not in quantized:
            continue
        producer = graph.producer.get(name)
        if name not in graph.constants and producer is not None and producer.op_type != "QuantizeLinear":
            detail = f"{name!r} is {type_name(t)} but not made by QuantizeLinear"
            yield graph.flag(producer, type_name(t), "quantized-qdq", detail)
        elif name in graph.inputs:
            yield Violation(name, "input", type_name(t), "quantized-qdq", "a quantized type cannot be a network input")
        for node in graph.consumers.get(name, ()):
            if not _reads_quantized_legally(node, name):
                detail = f"reads {type_name(t)} {name!r}: quantized types may only feed DequantizeLinear"
                yield graph.flag(node, type_name(t), "quantized-qdq", detail)


def _reads_quantized_legally(node: onnx.NodeProto, name: str) -> bool:
    """Dequantized data, or the zero point of a Q/DQ (whose type is the quantized type by definition)."""
    data = node.op_type == "DequantizeLinear" and node.input[0] == name
    zero_point = node.op_type in _QDQ and len(node.input) > 2 and node.input[2] == name
    return data or zero_point


# --- per-node rules -----------------------------------------------------------------------------------------------


def _check_node(graph: Graph, node: onnx.NodeProto, support: Support) -> Iterator[Violation]:
    if node.domain not in ("", "ai.onnx"):
        yield graph.flag(node, "-", "op-unsupported", f"custom domain {node.domain!r}: TensorRT needs a plugin for it")
        return
    facts = support.operators.get(node.op_type)
    if facts is None or not facts["supported"]:
        detail = f"{node.op_type} is not supported by TensorRT's ONNX parser"
        yield graph.flag(node, _first_type(graph, node), "op-unsupported", detail)
        return
    yield from _check_types(graph, node, facts)
    schema = _schema(node, graph.opset)
    if schema is not None:
        yield from _check_constant_inputs(graph, node, facts, schema)
        if node.op_type not in _QDQ:  # Q/DQ zero points: qdq-symmetric says the same, more precisely
            yield from _check_required_values(graph, node, facts, schema)
        yield from _check_attributes(graph, node, facts, schema)
    if node.op_type == "TopK":
        yield from _check_topk(graph, node)
    if node.op_type == "MaxPool":
        yield from _check_maxpool(graph, node)
    if node.op_type == "ScatterND":
        yield from _check_scatternd(graph, node)
    if node.op_type in _QDQ:
        yield from _check_qdq(graph, node)


def _typed_names(node: onnx.NodeProto) -> list[str]:
    """The tensors whose element type the matrix's 'Supported Types' column is about."""
    if node.op_type in _NO_INPUT_OPS:
        return list(node.output[:1])
    indices = _TYPED_INPUTS.get(node.op_type, (0,))
    names = list(node.input) if indices is _ALL else [node.input[i] for i in indices if i < len(node.input)]
    if node.op_type in ("Cast", "CastLike"):
        names += node.output[:1]  # the target type must be one TensorRT casts to
    return [n for n in names if n]


def _first_type(graph: Graph, node: onnx.NodeProto) -> str:
    names = _typed_names(node)
    return graph.dtype(names[0]) if names else "-"


def _check_types(graph: Graph, node: onnx.NodeProto, facts: dict) -> Iterator[Violation]:
    # UINT8 and quantized types have their own, more precise rules (uint8-*, quantized-qdq): one line per problem.
    special = {"UINT8", *parser_rules()["quantized-qdq"]["types"]}
    for name in _typed_names(node):
        dtype = graph.dtype(name)
        if dtype != "-" and dtype not in facts["types"] and (dtype not in special or node.op_type in _QDQ):
            detail = f"{name!r}: TensorRT runs {node.op_type} on {', '.join(facts['types'])} only"
            yield graph.flag(node, dtype, "op-dtype", detail)


def _schema(node: onnx.NodeProto, opset: int) -> Any:
    try:
        return onnx.defs.get_schema(node.op_type, opset, node.domain)
    except Exception:  # an op ONNX itself does not know: onnx.checker reports it, not this check
        return None


def _check_constant_inputs(graph: Graph, node: onnx.NodeProto, facts: dict, schema: Any) -> Iterator[Violation]:
    names = [p.name for p in schema.inputs]
    for wanted in facts.get("constant_inputs", ()):
        if wanted not in names:  # the document's name for an input of another opset (or a typo in it)
            continue
        tensor = graph.input(node, names.index(wanted))
        if tensor and tensor not in graph.constants:
            detail = f"input {wanted!r} ({tensor!r}) must be a constant (initializer or Constant node)"
            yield graph.flag(node, graph.dtype(tensor), "constant-input", detail)


def _check_required_values(graph: Graph, node: onnx.NodeProto, facts: dict, schema: Any) -> Iterator[Violation]:
    inputs = [p.name for p in schema.inputs]
    for name, required in facts.get("required_values", {}).items():
        if name in schema.attributes:
            value = _attr(node, name, _default(schema, name))
            if value is not None and value != required:
                detail = f"attribute {name}={value}: TensorRT needs {required}"
                yield graph.flag(node, _first_type(graph, node), "required-value", detail)
        elif name in inputs and (tensor := graph.input(node, inputs.index(name))) in graph.constants:
            if np.any(graph.constants[tensor] != required):
                detail = f"input {name} ({tensor!r}) must be all {required}"
                yield graph.flag(node, graph.dtype(tensor), "required-value", detail)


def _check_attributes(graph: Graph, node: onnx.NodeProto, facts: dict, schema: Any) -> Iterator[Violation]:
    for name, allowed in facts.get("allowed_attributes", {}).items():
        value = _attr(node, name, _default(schema, name)) if name in schema.attributes else None
        if value is not None and value not in allowed:
            detail = f"{name}={value!r}: TensorRT supports {', '.join(map(str, allowed))}"
            yield graph.flag(node, _first_type(graph, node), "attribute-value", detail)


def _check_topk(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    limit = parser_rules()["topk-k-max"]["max"]
    k_name = graph.input(node, 1)
    k = graph.constants.get(k_name)
    if k is None:
        detail = f"K ({k_name!r}) is computed at run time: it must be a constant to be checked against {limit}"
    elif int(np.max(k)) > limit:
        detail = f"K={int(np.max(k))} exceeds TensorRT's TopK limit of {limit}"
    else:
        return
    yield graph.flag(node, _first_type(graph, node), "topk-k-max", detail)


def _check_maxpool(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    rule = parser_rules()["maxpool"]
    kernel = _attr(node, "kernel_shape") or []
    dilations = _attr(node, "dilations") or []
    problems = []
    if len(kernel) not in rule["spatial_dims"]:
        problems.append(f"{len(kernel)}D pooling: TensorRT pools in {' or '.join(map(str, rule['spatial_dims']))}D only")
    if len(node.output) > 1 and node.output[1]:
        problems.append(f"Indices output {node.output[1]!r} is not supported")
    if any(d != rule["dilation"] for d in dilations):
        problems.append(f"dilations={list(dilations)}: TensorRT needs them empty or all {rule['dilation']}")
    for detail in problems:
        yield graph.flag(node, _first_type(graph, node), "maxpool", detail)


def _check_scatternd(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    allowed = parser_rules()["scatternd-reduction"]["reduction"]
    reduction = _attr(node, "reduction", "none")
    if reduction not in allowed:
        detail = f"reduction={reduction!r}: TensorRT supports {', '.join(map(repr, allowed))} only"
        yield graph.flag(node, _first_type(graph, node), "scatternd-reduction", detail)


# --- Q/DQ (strongly typed INT8) -----------------------------------------------------------------------------------


def _check_qdq(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    yield from _check_quantized_type(graph, node)
    yield from _check_zero_point(graph, node)
    scale = graph.constants.get(graph.input(node, 1))
    if scale is not None and not np.all(scale > 0):
        yield graph.flag(node, graph.dtype(node.input[0]), "qdq-scale", "scales must all be positive")
    if scale is not None and scale.size > 1:
        yield from _check_per_channel(graph, node, scale)


def _check_quantized_type(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    """INT8, stated in the graph: a DQ reads INT8; a Q has an INT8 zero point (none means UINT8 in ONNX)."""
    int8 = parser_rules()["qdq-int8"]["quantized_type"]
    zero_point = graph.input(node, 2)
    if node.op_type == "DequantizeLinear" and (dtype := graph.dtype(node.input[0])) != int8:
        yield graph.flag(node, dtype, "qdq-int8", f"dequantizes {dtype}: INT8 builds quantize to {int8}")
    if not zero_point and node.op_type == "QuantizeLinear":
        detail = "no zero point: ONNX then quantizes to UINT8, TensorRT to INT8; give an INT8 zero point"
        yield graph.flag(node, graph.dtype(node.input[0]), "qdq-int8", detail)
    elif zero_point and (dtype := graph.dtype(zero_point)) != int8:
        yield graph.flag(node, dtype, "qdq-int8", f"zero point {zero_point!r} is {dtype}: INT8 builds need {int8}")


def _check_zero_point(graph: Graph, node: onnx.NodeProto) -> Iterator[Violation]:
    zero_point = graph.input(node, 2)
    value = graph.constants.get(zero_point)
    if zero_point and (value is None or np.any(value != parser_rules()["qdq-symmetric"]["zero_point"])):
        detail = f"zero point {zero_point!r} must be a constant 0 (TensorRT quantizes symmetrically)"
        yield graph.flag(node, graph.dtype(zero_point), "qdq-symmetric", detail)


def _check_per_channel(graph: Graph, node: onnx.NodeProto, scale: np.ndarray) -> Iterator[Violation]:
    want = parser_rules()["qdq-per-channel"]["axis"]
    weights, axis = _weights_of(graph, node), _attr(node, "axis")
    if weights is None:
        detail = f"{scale.size} scales on activation {node.input[0]!r}: activations are quantized per tensor"
    elif axis != want:
        detail = f"per-channel axis is {'not set (ONNX default 1)' if axis is None else axis}: TensorRT needs {want}"
    elif weights.ndim == 0 or weights.shape[want] != scale.size:
        detail = f"{scale.size} scales for weights of shape {list(weights.shape)}: need one per output channel"
    else:
        return
    yield graph.flag(node, graph.dtype(node.input[0]), "qdq-per-channel", detail)


def _weights_of(graph: Graph, node: onnx.NodeProto) -> np.ndarray | None:
    """The constant weights a Q/DQ quantizes, in either form TensorRT accepts; None for an activation.

    Pre-quantized: a DequantizeLinear reads INT8 constants (ONNX Runtime's quantizer). Float: a QuantizeLinear reads
    FP32/FP16 constants and its DequantizeLinear reads that Q's output (ModelOpt's default; TensorRT folds the Q into
    the weights at build time). Anything else fed to a Q/DQ is computed at run time: an activation.
    """
    data = node.input[0]
    if data in graph.constants:
        return graph.constants[data]
    source = graph.producer.get(data)
    if node.op_type == "DequantizeLinear" and source is not None and source.op_type == "QuantizeLinear":
        return graph.constants.get(source.input[0])
    return None


# --- attributes ---------------------------------------------------------------------------------------------------


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _default(schema: Any, name: str) -> Any:
    attr = schema.attributes[name]
    if not attr.default_value.name:  # required or no default
        return None
    value = onnx.helper.get_attribute_value(attr.default_value)
    return value.decode() if isinstance(value, bytes) else value
