"""The accuracy gate passes or fails on a hand-set threshold.

The evaluations are FAKES with fixed mAP values: they test the gate's arithmetic and verdict, not the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grace_edge.errors import GraceEdgeError, InputError
from grace_edge.evaluate.gate import AccuracyGateFailed, enforce, run_gate


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


def test_gate_writes_the_comparison_report_even_when_it_fails(tmp_path: Path) -> None:
    """Real evaluations (of stubbed predictions, tests/helpers/hand_case.py): the report is there to explain a fail."""
    from grace_edge.evaluate import evaluate_predictions
    from tests.helpers import hand_case

    data = hand_case.write_dataset(tmp_path / "d")
    worse = hand_case.predictions()
    worse["0.png"] = worse["0.png"][1:]  # the "int8" model lost its 0.875 class-a detection

    def evaluate(weights, data_yaml, **kwargs):
        preds = hand_case.predictions() if Path(weights).name == "fp32.onnx" else worse
        return evaluate_predictions(preds, data_yaml, settings={"weights": str(weights)})

    result = run_gate("fp32.onnx", "int8.onnx", data, "int8", max_map_drop=1.0, evaluate_fn=evaluate,
                      report_dir=tmp_path / "gate")
    assert not result.passed and result.report == tmp_path / "gate" / "report.html"
    assert (tmp_path / "gate" / "1-fp32" / "thresholds.yaml").is_file() and (tmp_path / "gate" / "2-int8").is_dir()
    with pytest.raises(AccuracyGateFailed, match=f"report {tmp_path / 'gate' / 'report.html'}"):
        enforce(result)


def test_fake_evaluations_write_no_report(tmp_path: Path) -> None:
    result = run_gate("fp32.onnx", "int8.onnx", "data.yaml", "int8", evaluate_fn=fake_evaluate(
        {"fp32.onnx": 0.5, "int8.onnx": 0.5}), report_dir=tmp_path / "gate")
    assert result.report is None and not (tmp_path / "gate").exists()
