"""Exact rewrites of the grace-edge graph that make ONNX Runtime's CPU kernels faster, applied by the CPU INT8 layout
(:mod:`grace_edge.engine.quantize_cpu`). Each leaves every output value as it was (same arithmetic, same rounding
points); ``benchmarks/cpu_profile.py`` shows the row each one moves.

- :func:`fold_gray_channels`: a gray camera graph copies its one channel three times (``Concat [x, x, x]``) for the
  first convolution. ``conv([x, x, x], W) = conv(x, W.sum(axis=1))`` exactly (up to float summation order), so the
  first convolution reads one channel: the 640x640x3 float Concat (the preprocess row's largest op) goes, and the
  first convolution does a third of its multiply-adds.
- :func:`integer_upsample`: the neck's nearest 2x ``Resize`` between a DequantizeLinear and a QuantizeLinear with the
  same scale and zero point is an identity on the uint8 codes. ORT's NHWC transform runs a uint8 Resize in a slow
  generic path (16x its NCHW time on a 128x40x40 map), so it becomes Reshape -> Expand -> Reshape on the uint8
  tensor itself, with no Q/DQ around it, written in NHWC between two Transposes: ORT cancels those against the
  ones its NHWC transform puts around the integer convolutions (in NCHW, a 6-D Expand ran 100x slower).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in model.graph.node:
        for name in n.input:
            out[name].append(n)
    return out


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def fold_gray_channels(model: onnx.ModelProto) -> int:
    """Fold ``Concat([x, x, x], axis=1) -> Conv`` into a one-channel Conv (weights summed over their input axis).
    Returns how many convolutions were folded (0 for a BGR graph or a Concat read by anything else)."""
    consumers, inits, folded = _consumers(model), _initializers(model), 0
    graph_outputs = {o.name for o in model.graph.output}
    for cat in list(model.graph.node):
        axis = next((a.i for a in cat.attribute if a.name == "axis"), None)
        if cat.op_type != "Concat" or axis != 1 or len(cat.input) < 2 or len(set(cat.input)) != 1:
            continue
        readers = consumers[cat.output[0]]
        if cat.output[0] in graph_outputs or not readers or any(
                r.op_type != "Conv" or r.input[0] != cat.output[0] or r.input[1] not in inits
                or _group(r) != 1 for r in readers):
            continue
        for conv in readers:
            w = numpy_helper.to_array(inits[conv.input[1]])
            if len(consumers[conv.input[1]]) != 1 or w.shape[1] != len(cat.input):
                break
        else:
            for conv in readers:
                w = numpy_helper.to_array(inits[conv.input[1]])
                inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w.sum(axis=1, keepdims=True), conv.input[1]))
                conv.input[0] = cat.input[0]
            model.graph.node.remove(cat)
            folded += len(readers)
    return folded


def _group(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return a.s.decode() if a.type == onnx.AttributeProto.STRING else onnx.helper.get_attribute_value(a)
    return default


def _same_params(dq: onnx.NodeProto, q: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    a = [inits.get(name) for name in dq.input[1:3]]
    b = [inits.get(name) for name in q.input[1:3]]
    if len(a) != 2 or len(b) != 2 or None in a or None in b:
        return False
    return all(np.array_equal(numpy_helper.to_array(x), numpy_helper.to_array(y)) and x.data_type == y.data_type
               for x, y in zip(a, b))


def _integer_scales(resize: onnx.NodeProto, inits: dict[str, onnx.TensorProto], constants: dict[str, np.ndarray],
                    rank: int) -> list[int] | None:
    """The Resize's scales if they are positive integers on H and W only (1 on N and C), else None."""
    if len(resize.input) < 3 or (len(resize.input) > 3 and resize.input[3]):
        return None
    name = resize.input[2]
    scales = numpy_helper.to_array(inits[name]) if name in inits else constants.get(name)
    if scales is None or scales.shape != (rank,) or rank != 4 or list(scales[:2]) != [1, 1]:
        return None
    ints = [int(s) for s in scales]
    return ints if all(s == i and i >= 1 for s, i in zip(scales, ints)) else None


def integer_upsample(model: onnx.ModelProto) -> int:
    """Replace ``DQ -> Resize(nearest, integer scales) -> Q`` with equal quantization parameters by
    Reshape -> Expand -> Reshape on the uint8 codes. Returns how many were replaced."""
    inits = _initializers(model)
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
                 if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.input)}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = _consumers(model)
    graph_outputs = {o.name for o in model.graph.output}
    replaced = 0
    for resize in list(model.graph.node):
        if resize.op_type != "Resize" or _attr(resize, "mode", "nearest") != "nearest":
            continue
        if _attr(resize, "coordinate_transformation_mode", "half_pixel") != "asymmetric" or \
                _attr(resize, "nearest_mode", "round_prefer_floor") != "floor":
            continue
        dq, readers = producer.get(resize.input[0]), consumers[resize.output[0]]
        if dq is None or dq.op_type != "DequantizeLinear" or len(readers) != 1 or readers[0].op_type != "QuantizeLinear":
            continue
        q, shape = readers[0], shapes.get(resize.input[0])
        scales = _integer_scales(resize, inits, constants, len(shape or []))
        if not scales or not shape or 0 in shape or not _same_params(dq, q, inits):
            continue
        n, c, h, w = shape
        sh, sw = scales[2:]
        codes, base = dq.input[0], resize.name
        consts = {f"{base}_split": [n, h, 1, w, 1, c], f"{base}_expand": [n, h, sh, w, sw, c],
                  f"{base}_merge": [n, h * sh, w * sw, c]}
        model.graph.initializer.extend(numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts.items())
        make = onnx.helper.make_node
        new = [make("Transpose", [codes], [f"{base}_nhwc"], name=f"{base}_nhwc", perm=[0, 2, 3, 1]),
               make("Reshape", [f"{base}_nhwc", f"{base}_split"], [f"{base}_split_out"], name=f"{base}_split"),
               make("Expand", [f"{base}_split_out", f"{base}_expand"], [f"{base}_expand_out"], name=f"{base}_expand"),
               make("Reshape", [f"{base}_expand_out", f"{base}_merge"], [f"{base}_merge_out"], name=f"{base}_merge"),
               make("Transpose", [f"{base}_merge_out"], [q.output[0]], name=f"{base}_nchw", perm=[0, 3, 1, 2])]
        at = list(model.graph.node).index(resize)
        for i, node in enumerate(new):
            model.graph.node.insert(at + i, node)
        model.graph.node.remove(resize)
        model.graph.node.remove(q)
        if len(consumers[dq.output[0]]) == 1 and dq.output[0] not in graph_outputs:
            model.graph.node.remove(dq)
        replaced += 1
    return replaced
