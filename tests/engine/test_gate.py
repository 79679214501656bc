"""The accuracy gate passes or fails on a hand-set threshold.

The evaluations are FAKES with fixed mAP values: they test the gate's arithmetic and verdict, not the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grace_edge.errors import GraceEdgeError, InputError
from grace_edge.engine.gate import AccuracyGateFailed, enforce, run_gate


@dataclass
class FakeResult:
    map50_95: float | None
    images: int = 10
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"map50_95": self.map50_95, "images": self.images}


def fake_evaluate(scores: dict[str, float | None]):
    def evaluate(weights, data, **kwargs):
        assert kwargs["split"] == "val"
        return FakeResult(scores[Path(weights).name])

    return evaluate


def gate(ref: float, cand: float, max_drop: float):
    return run_gate("fp32.onnx", "int8.onnx", "data.yaml", "int8", max_map_drop=max_drop,
                    evaluate_fn=fake_evaluate({"fp32.onnx": ref, "int8.onnx": cand}))


def test_gate_passes_within_the_allowed_drop() -> None:
    result = gate(0.500, 0.492, 1.0)  # 0.8 points lost
    assert result.passed and result.drop == pytest.approx(0.8)
    enforce(result)
    assert "passed" in result.summary() and "+0.80 pt" in result.summary()


def test_gate_fails_beyond_the_allowed_drop() -> None:
    result = gate(0.500, 0.488, 1.0)  # 1.2 points lost
    assert not result.passed
    with pytest.raises(AccuracyGateFailed, match="FAILED.*1.20 pt.*no artifact written"):
        enforce(result)
    assert issubclass(AccuracyGateFailed, GraceEdgeError)  # the CLI prints it as one line and exits 2


def test_gate_threshold_is_inclusive_and_gains_pass() -> None:
    assert gate(0.50, 0.49, 1.0).passed
    assert not gate(0.50, 0.49, 0.5).passed
    assert gate(0.40, 0.45, 0.0).passed


def test_gate_needs_labelled_val_boxes_and_a_sane_threshold() -> None:
    with pytest.raises(InputError, match="no labelled boxes"):
        gate(None, None, 1.0)
    with pytest.raises(InputError, match="max-map-drop"):
        gate(0.5, 0.5, -1.0)
