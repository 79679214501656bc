"""FP16 ONNX: the FP32 graph in float16, with the precision-sensitive parts kept in float32.

Kept in FP32 (found from the graph's structure, so any exporter's node names work):
- the in-graph preprocessing (everything before the first convolution: cast, scale, resize, pad);
- the Detect head's decode and the whole postprocess: everything after the last convolution of each head branch
  (DFL softmax + its fixed convolution, anchor/stride arithmetic, class sigmoid, top-K, NMS, box mapping);
- optionally the Lite-FEN sigmoid gates (``keep_gates_fp32``): sigmoids that are not half of a SiLU.
Graph inputs and outputs keep their types (uint8 in, float32/int32 out). TensorRT builds the result as a strongly
typed network, so these types are exactly what runs on the GPU.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

import onnx

from grace_edge.artifact import ArtifactMeta, OnnxModel, onnx_meta, set_onnx_meta, sha256_file
from grace_edge.errors import ArtifactError
from grace_edge.io import atomic_path

_SHAPE_ONLY_OPS = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


@dataclass(frozen=True)
class GraphRegions:
    """Node names of the parts of a detector graph that need care in reduced precision."""

    preprocess: frozenset[str]  # from the graph input up to the first convolution
    head_outputs: frozenset[str]  # the last convolution of each head branch (box and class, per level)
    decode: frozenset[str]  # everything after head_outputs: DFL, anchors, sigmoid, NMS, box mapping
    gates: frozenset[str]  # sigmoids outside the decode that are not part of a SiLU (Lite-FEN attention)

    @property
    def fp32(self) -> frozenset[str]:
        return self.preprocess | self.decode


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed node a unique name (quantization and FP16 block lists address nodes by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def find_regions(model: onnx.ModelProto) -> GraphRegions:
    """Split a GRACE/YOLO detector graph into its preprocessing, head outputs, decode and gates (by structure)."""
    nodes = list(model.graph.node)
    if any(not n.name for n in nodes):
        raise ArtifactError("find_regions needs named nodes; call name_nodes(model) first")
    producer = {out: n for n in nodes for out in n.output if out}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in nodes:
        for inp in n.input:
            consumers[inp].append(n)

    def descendants(start: onnx.NodeProto) -> set[str]:
        seen: set[str] = set()
        queue = deque(start.output)
        while queue:
            for child in consumers.get(queue.popleft(), ()):
                if child.name not in seen:
                    seen.add(child.name)
                    queue.extend(child.output)
        return seen

    def data_source(node: onnx.NodeProto) -> onnx.NodeProto | None:
        """The node feeding ``node``'s first input, looking through reshapes and transposes."""
        src = producer.get(node.input[0]) if node.input else None
        while src is not None and src.op_type in _SHAPE_ONLY_OPS:
            src = producer.get(src.input[0]) if src.input else None
        return src

    convs = [n for n in nodes if n.op_type == "Conv"]
    if not convs:
        raise ArtifactError("the ONNX graph has no convolution: not a GRACE/YOLO detector")
    # DFL's fixed integral convolution reads a softmax: it is part of the decode, not a feature layer.
    dfl = {c.name for c in convs if (src := data_source(c)) is not None and src.op_type == "Softmax"}
    features = [c for c in convs if c.name not in dfl]
    below = {c.name: descendants(c) for c in features}
    feature_names = {c.name for c in features}
    head_outputs = {c.name for c in features if not below[c.name] & feature_names}
    decode: set[str] = set()
    for name in head_outputs:
        decode |= below[name]

    after_conv: set[str] = set(dfl)
    for c in features:
        after_conv |= below[c.name] | {c.name}
    graph_inputs = {i.name for i in model.graph.input}
    from_input: set[str] = set()
    for n in nodes:  # topological order: a node is fed by the raw input if any of its inputs is
        if any(i in graph_inputs or (i in producer and producer[i].name in from_input) for i in n.input):
            from_input.add(n.name)
    preprocess = {n for n in from_input if n not in after_conv}

    gates = set()
    for n in nodes:
        if n.op_type != "Sigmoid" or n.name in decode:
            continue
        silu = any(c.op_type == "Mul" and n.input[0] in c.input for c in consumers.get(n.output[0], ()))
        if not silu:
            gates.add(n.name)
    return GraphRegions(frozenset(preprocess), frozenset(head_outputs), frozenset(decode), frozenset(gates))


meta_of = onnx_meta  # kept as this module's name for it


def save_with_meta(model: onnx.ModelProto, out: str | Path, meta: ArtifactMeta) -> Path:
    """Store ``meta`` in ``model`` and write it to ``out`` atomically."""
    set_onnx_meta(model, meta)
    with atomic_path(out) as tmp:
        onnx.save(model, str(tmp))
    return Path(out)


def load_fp32(src: "str | Path | OnnxModel") -> tuple[onnx.ModelProto, ArtifactMeta]:
    """A working copy of an FP32 grace-edge ONNX model (a path, read and checked here, or an :class:`OnnxModel`
    already in memory) and its metadata, nodes named; reduced-precision inputs are rejected."""
    fp32 = src if isinstance(src, OnnxModel) else OnnxModel.read(src)
    if fp32.meta.precision != "fp32":
        raise ArtifactError(f"{fp32.origin}: is already {fp32.meta.precision}; start from the FP32 ONNX made by "
                            "'grace-edge export'")
    model = onnx.ModelProto()
    model.CopyFrom(fp32.proto)  # the steps edit their copy; the FP32 model stays what the gate compares against
    name_nodes(model)
    return model, ArtifactMeta.from_json(fp32.meta.to_json(), origin=fp32.origin)


def source_digest(src: "str | Path | OnnxModel") -> str:
    """What a derived model records as its FP32 source: the digest it was sealed with (no second hash in memory)."""
    return src.digest if isinstance(src, OnnxModel) else sha256_file(src)


def convert_fp16(src: "str | Path | OnnxModel", out: str | Path, *, keep_gates_fp32: bool = False) -> Path:
    """Write an FP16 copy of the FP32 grace-edge ONNX ``src`` to ``out`` (sensitive parts stay FP32)."""
    return fp16_model(src, keep_gates_fp32=keep_gates_fp32).write(out)


def fp16_model(src: "str | Path | OnnxModel", *, keep_gates_fp32: bool = False) -> OnnxModel:
    """The FP16 model of the FP32 grace-edge ONNX ``src``, in memory, sealed when written (sensitive parts stay FP32)."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model, meta = load_fp32(src)
    regions = find_regions(model)
    blocked = set(regions.fp32 | (regions.gates if keep_gates_fp32 else frozenset()))
    blocked |= _constants_feeding_only(model, blocked)
    half = convert_float_to_float16(
        model,
        keep_io_types=True,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST),
        node_block_list=sorted(blocked),
    )
    _drop_fp16_round_trips(half)
    sort_topologically(half)  # the converter appends its casts at the end; ONNX and TensorRT need producers first
    meta.precision = "fp16"
    meta.source = {**meta.source, "onnx_fp32": source_digest(src)}
    return OnnxModel.made(half, meta, f"{Path(str(src)).name} in fp16")


def _constants_feeding_only(model: onnx.ModelProto, nodes: set[str]) -> set[str]:
    """Constant nodes whose every consumer is in ``nodes`` (they must stay FP32 with them)."""
    consumers: dict[str, list[str]] = defaultdict(list)
    for n in model.graph.node:
        for inp in n.input:
            consumers[inp].append(n.name)
    return {
        n.name
        for n in model.graph.node
        if n.op_type == "Constant" and all(c in nodes for out in n.output for c in consumers.get(out, ["-"]))
    }


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every typed tensor in ``model`` (after ONNX shape inference)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    types.update({t.name: t.data_type for t in g.initializer})
    return types


def _drop_fp16_round_trips(model: onnx.ModelProto) -> None:
    """Remove float32 -> float16 -> float32 cast pairs.

    ``convert_float_to_float16`` types every float tensor as float16 and wraps each blocked node in casts, so two
    adjacent FP32 nodes would still exchange float16 values (box coordinates and NMS areas rounded, or overflowing).
    The original graph has no float16 at all, so every such round trip came from the converter: bypass it.
    """
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    types = tensor_types(model)

    def cast_to(node: onnx.NodeProto) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    producer = {out: n for n in model.graph.node for out in n.output}
    graph_outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    for node in model.graph.node:
        if cast_to(node) != f32:
            continue
        first = producer.get(node.input[0])
        if first is None or cast_to(first) != f16 or types.get(first.input[0]) != f32:
            continue
        if node.output[0] in graph_outputs:  # a graph output keeps its name: copy the FP32 value into it
            node.input[0], node.op_type = first.input[0], "Identity"
            del node.attribute[:]
        else:
            rename[node.output[0]] = first.input[0]
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    _remove_dead_nodes(model)


def _remove_dead_nodes(model: onnx.ModelProto) -> None:
    """Drop nodes whose outputs nothing reads (repeat until none is left)."""
    graph_outputs = {o.name for o in model.graph.output}
    while True:
        used = {i for n in model.graph.node for i in n.input} | graph_outputs
        keep = [n for n in model.graph.node if any(o in used for o in n.output)]
        if len(keep) == len(model.graph.node):
            return
        del model.graph.node[:]
        model.graph.node.extend(keep)


def sort_topologically(model: onnx.ModelProto) -> None:
    """Reorder ``model.graph.node`` so that every node comes after the producers of its inputs (stable otherwise)."""
    nodes = list(model.graph.node)
    producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    waiting_on = [{producer[t] for t in n.input if t in producer} for n in nodes]
    readers: dict[int, list[int]] = defaultdict(list)
    for i, deps in enumerate(waiting_on):
        for d in deps:
            readers[d].append(i)
    ready = [i for i, deps in enumerate(waiting_on) if not deps]
    heapq.heapify(ready)  # smallest original index first keeps the order of an already sorted graph
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for r in readers[i]:
            waiting_on[r].discard(i)
            if not waiting_on[r]:
                heapq.heappush(ready, r)
    if len(order) != len(nodes):
        raise ArtifactError("the ONNX graph has a cycle: it cannot be sorted topologically")
    del model.graph.node[:]
    model.graph.node.extend(nodes[i] for i in order)
