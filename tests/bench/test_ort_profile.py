"""ORT profile grouping: events map to the source node their name starts with, ORT-made nodes to their neighbour,
Q/DQ to their own row, each node counted at its median over runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from grace_edge.bench.ort_profile import ProfiledSession, group_events, node_regions, source_name
from tests.helpers.models import untrained_onnx


def _event(name: str, op: str, us: float) -> dict:
    return {"cat": "Node", "name": f"{name}_kernel_time", "dur": us, "args": {"op_name": op}}


def test_longest_prefix_and_neighbour_and_median() -> None:
    regions = {"/model/model.1/conv/Conv": "backbone", "/model/model.1/conv/Conv_1": "neck", "/pre/Cast": "preprocess"}
    assert source_name("/model/model.1/conv/Conv_1_nchwc", sorted(regions)) == "/model/model.1/conv/Conv_1"
    assert source_name("Transpose_token_3", sorted(regions)) is None
    run = lambda slow: [_event("/pre/Cast", "Cast", 100), _event("/model/model.1/conv/Conv_token_9", "QLinearConv",  # noqa: E731
                                                                  9000 if slow else 1000),
                        _event("Transpose_token_3", "Transpose", 500), _event("x_QuantizeLinear", "QuantizeLinear", 50)]
    prof = group_events(run(False) + run(True) + run(False), regions, 3)
    assert prof.by_region == pytest.approx({"preprocess": 0.1, "backbone": 1.0 + 0.5, "Q/DQ boundaries": 0.05})
    assert prof.by_op["QLinearConv"] == pytest.approx(1.0) and prof.unmatched == 1 and prof.op_calls["Transpose"] == 1


def test_profiled_session_charges_every_region(tmp_path: Path) -> None:
    from grace_edge.runtime.onnxruntime_backend import session_options

    path = untrained_onnx(tmp_path)
    regions = node_regions(onnx.load(str(path)))
    assert {"preprocess", "backbone", "neck", "Lite-FEN", "head", "decode", "top-K + NMS"} <= set(regions.values())
    x = np.zeros((1, 200, 200, 1), np.uint8)
    s = ProfiledSession(path, session_options(1), lambda: {"images": x})
    for _ in range(3):
        s.run()
    prof = s.profile(skip_runs=1)
    assert prof.runs == 2 and {"backbone", "head", "top-K + NMS"} <= set(prof.by_region) and prof.total_ms > 0
