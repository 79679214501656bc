"""Accuracy gate: a reduced-precision model may lose at most ``max_map_drop`` mAP50-95 points against FP32.

Both models run in the same evaluation (``grace_edge.evaluate.evaluate``; ONNX goes through the runtime's Detector)
on the val split of the data YAML, so the comparison is like for like.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from grace_edge.errors import GraceEdgeError, InputError

DEFAULT_MAX_MAP_DROP = 1.0  # mAP50-95 points (0-100 scale)


class AccuracyGateFailed(GraceEdgeError):
    """The reduced-precision model lost more accuracy than allowed."""


@dataclass(frozen=True)
class GateResult:
    precision: str
    reference_map: float  # FP32 mAP50-95, 0-1
    candidate_map: float
    max_drop: float  # points
    images: int
    reference: dict[str, Any]
    candidate: dict[str, Any]
    report: Path | None = None  # the comparison report.html (FP32 vs candidate), when one was written

    @property
    def drop(self) -> float:
        """mAP50-95 lost, in points (negative: the reduced model scored higher)."""
        return (self.reference_map - self.candidate_map) * 100.0

    @property
    def passed(self) -> bool:
        return self.drop <= self.max_drop + 1e-9  # 0.50 - 0.49 is 1.0000000000000009 points in floats

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        report = f"; report {self.report}" if self.report else ""
        return (
            f"accuracy gate {verdict}: {self.precision} mAP50-95 {self.candidate_map * 100:.2f} vs FP32 "
            f"{self.reference_map * 100:.2f} (drop {self.drop:+.2f} pt, allowed {self.max_drop:.2f} pt, "
            f"{self.images} val images{report})"
        )


def run_gate(
    reference: str | Path,
    candidate: str | Path,
    data_yaml: str | Path,
    precision: str,
    *,
    max_map_drop: float = DEFAULT_MAX_MAP_DROP,
    max_images: int | None = None,
    evaluate_fn: Callable[..., Any] | None = None,
    runtime: Any = None,
    report_dir: str | Path | None = None,
) -> GateResult:
    """Evaluate ``reference`` (FP32) and ``candidate`` on the val split of ``data_yaml`` and compare mAP50-95.

    ``reference`` and ``candidate``: artifact paths or in-memory :class:`~grace_edge.artifact.OnnxModel` (the build
    hands its models on; nothing is written or read back). ``runtime``: the RuntimeOptions the candidate runs with (e.g. OpenVINO with a BF16 hint), so that the
    gate measures what will run; the FP32 reference always runs on the default runtime. ``report_dir``: write the
    comparison report there (``val A B``'s: per-class deltas, PR curves overlaid, each side's thresholds), pass or
    fail, before the verdict is enforced."""
    if max_map_drop < 0:
        raise InputError(f"--max-map-drop must be >= 0 points, got {max_map_drop}")
    if evaluate_fn is None:
        from grace_edge.evaluate import evaluate as evaluate_fn
    ref = evaluate_fn(reference, data_yaml, split="val", conf=0.001, max_images=max_images)
    extra = {"runtime": runtime} if runtime is not None else {}
    cand = evaluate_fn(candidate, data_yaml, split="val", conf=0.001, max_images=max_images, **extra)
    if ref.map50_95 is None or cand.map50_95 is None:
        raise InputError(f"--data {data_yaml}: the val split has no labelled boxes, so the accuracy gate cannot measure")
    from grace_edge.evaluate.compare import write_gate_report  # the evaluate room writes every report

    report = write_gate_report(report_dir, ref, cand, precision) if report_dir is not None else None
    return GateResult(precision, ref.map50_95, cand.map50_95, max_map_drop, ref.images, ref.to_dict(), cand.to_dict(),
                      report)


def enforce(result: GateResult) -> None:
    """Raise :class:`AccuracyGateFailed` (exit 2 on the command line) when the gate failed."""
    if not result.passed:
        raise AccuracyGateFailed(
            result.summary() + "; no artifact written. Try --calib-method percentile / more --calib-images, "
            "--fp16, or raise --max-map-drop if this loss is acceptable"
        )
