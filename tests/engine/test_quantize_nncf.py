"""NNCF's post-training quantisation of our FP32 graph (the OpenVINO INT8 row of benchmarks/cpu_runtime.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from grace_edge.artifact import read_onnx_meta
from grace_edge.data.calibration import calibration_images
from grace_edge.engine.precision import find_regions, name_nodes
from grace_edge.engine.quantize_nncf import LAYOUT, quantize_int8_nncf
from grace_edge.errors import InputError
from tests.helpers.models import gray_image, untrained_onnx


def test_without_nncf_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    with pytest.raises(InputError, match=r"^NNCF .*pip install nncf$") as e:
        quantize_int8_nncf(tmp_path / "missing.onnx", tmp_path / "out.onnx", [tmp_path / "a.png"])
    assert "\n" not in str(e.value)


@pytest.mark.data
def test_nncf_graph_quantizes_the_network_keeps_decode_float_and_runs(tiny_dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("nncf")
    fp32 = untrained_onnx(tmp_path)
    out = quantize_int8_nncf(fp32, tmp_path / "nncf.onnx", calibration_images(tiny_dataset, 4))
    meta = read_onnx_meta(out)
    assert meta.precision == "int8" and meta.source["int8_layout"] == LAYOUT
    model = onnx.load(str(out))
    q = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert len(q) > 20  # the network body is quantized
    reference = onnx.load(str(fp32))
    name_nodes(reference)
    kept_float = find_regions(reference).fp32
    by_name = {n.name: n for n in model.graph.node}
    producer = {o: n for n in model.graph.node for o in n.output}
    for name in kept_float & set(by_name):  # preprocessing, decode and NMS read no dequantized tensor
        node = by_name[name]
        if node.op_type == "Conv":
            continue  # the decode's fixed DFL conv may read the dequantized head output; it computes in float
        assert all(producer.get(i) is None or producer[i].op_type != "QuantizeLinear" for i in node.input), name

    from grace_edge.runtime import Detector

    with Detector.open(out, backend="openvino", conf=0.001) as det:
        rows = det.detect_arrays(gray_image(0))[0]
    assert rows.ndim == 2 and rows.shape[1] == 6 and np.isfinite(rows).all()
