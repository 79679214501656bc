"""Operating points: the per-class confidence a line runs at, and what it costs.

Per class, two points are chosen among that class's detection scores (a threshold ``t`` keeps ``score >= t``):

- **best F1**: the threshold with the highest F1 (ties: the highest threshold, fewer false alarms for the same F1);
- **recall target** (``val --recall 0.95``): the *highest* threshold whose recall reaches the target, because a
  missed defect costs more than a false reject. When no threshold reaches it (the model never finds that many
  boxes above its score floor), the point is the lowest score (the most recall there is) and ``reached`` is False.

The cost of a threshold is its **false-reject rate per 100 good parts**. A *good part for class c* is a val image
with no ground-truth box of class c; it is *falsely rejected by c* when some detection of class c on it scores
``>= t``. (Per class, not "an image with no box of any class": NEU-DET has no defect-free images, and a line
operator sets one threshold per class, so the question is what each class's threshold costs on parts free of that
defect. A class-c false alarm on an image with another defect counts too: that part is free of c.)
Thresholds are rounded down to 4 decimals, and every count is taken at the rounded value (what a line reading the
file sees). TP / FP / FN use the same greedy IoU >= 0.5 matching as precision and recall at ``--f1-conf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from grace_edge.errors import InputError

if TYPE_CHECKING:  # numpy and the rest load when a function runs: the val parser imports DEFAULT_RECALL from here
    import numpy as np

    from grace_edge.evaluate.matching import ClassMatches
    from grace_edge.thresholds import Thresholds

GOOD_PART = ("a good part for class c is a val image with no ground-truth box of class c; class c falsely rejects it "
             "when one of its detections there scores >= c's threshold")
DEFAULT_RECALL = 0.95
DECIMALS = 4  # of a written threshold


@dataclass(frozen=True)
class OperatingPoint:
    """One class at one threshold ``conf``."""

    conf: float
    tp: int
    fp: int
    fn: int
    false_rejects: int  # good parts (for this class) it fires on
    good_parts: int
    reached: bool = True  # recall target only: False when no threshold reached it

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    @property
    def false_rejects_per_100(self) -> float | None:
        """False rejects per 100 good parts; None when the split has no good part for this class."""
        return 100.0 * self.false_rejects / self.good_parts if self.good_parts else None

    def to_dict(self) -> dict[str, Any]:
        return {"conf": self.conf, "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "false_rejects": self.false_rejects,
                "good_parts": self.good_parts, "false_rejects_per_100": self.false_rejects_per_100,
                "reached": self.reached}


@dataclass(frozen=True)
class ClassPoints:
    """A class's two operating points; None when it has no ground truth or no detection to choose from."""

    name: str
    best_f1: OperatingPoint | None
    at_recall: OperatingPoint | None


def round_down(t: float) -> float:
    """``t`` rounded down to 4 decimals: a readable file that keeps every detection ``t`` kept (float32 scores
    compare the same way, since rounding a threshold to float32 never skips past a float32 score)."""
    k = math.floor(float(t) * 10**DECIMALS)
    return k / 10**DECIMALS if k / 10**DECIMALS <= t else (k - 1) / 10**DECIMALS  # t * 10^4 may round up to k


def point_at(m: ClassMatches, t: float, reached: bool = True) -> OperatingPoint:
    """The point at ``t`` rounded down to the file's 4 decimals: what a line reading the file will see."""
    t = round_down(t)
    tp, fp, fn = m.counts(t)
    return OperatingPoint(float(t), tp, fp, fn, m.false_rejects(t), len(m.good_max), reached)


def _steps(m: ClassMatches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct score as a threshold (descending) with the TP and FP counts it keeps."""
    import numpy as np

    ends = np.flatnonzero(np.r_[m.scores[1:] != m.scores[:-1], True])  # last detection of each tie group
    return m.scores[ends], np.cumsum(m.tp)[ends], np.cumsum(~m.tp)[ends]


def best_f1(m: ClassMatches) -> OperatingPoint | None:
    if not m.num_gt or not len(m.scores):
        return None
    thresholds, tp, fp = _steps(m)
    f1 = 2 * tp / (2 * tp + fp + (m.num_gt - tp))
    return point_at(m, thresholds[int(f1.argmax())])  # argmax: the first, i.e. highest, of equal F1s


def for_recall(m: ClassMatches, target: float) -> OperatingPoint | None:
    if not m.num_gt or not len(m.scores):
        return None
    thresholds, tp, _ = _steps(m)
    reaching = (tp >= target * m.num_gt - 1e-9).nonzero()[0]  # 1e-9: 0.95 * 20 is 19.000000000000004 in floats
    if not len(reaching):
        return point_at(m, thresholds[-1], reached=False)
    return point_at(m, thresholds[reaching[0]])


def check_recall(recall: float) -> float:
    if not 0 < recall <= 1:
        raise InputError(f"--recall {recall}: the recall target must be in (0, 1]")
    return recall


def operating_points(matches: Sequence[ClassMatches], recall: float = DEFAULT_RECALL) -> list[ClassPoints]:
    check_recall(recall)
    return [ClassPoints(m.name, best_f1(m), for_recall(m, recall)) for m in matches]


def to_thresholds(points: Sequence[ClassPoints], recall: float, default: float,
                  source: Mapping[str, Any]) -> Thresholds:
    """The recall-target thresholds as the one thresholds file; a class without a point gets ``default``."""
    from grace_edge.thresholds import Thresholds

    chosen = {p.name: p.at_recall.conf for p in points if p.at_recall is not None}
    about = {
        "rule": f"per class the highest confidence reaching recall {recall:g} at IoU 0.5 (else the most recall "
                "there is); false rejects: " + GOOD_PART,
        "recall_target": recall,
        "not_reached": [p.name for p in points if p.at_recall is not None and not p.at_recall.reached],
        "best_f1": {p.name: p.best_f1.conf for p in points if p.best_f1 is not None},
        **source,
    }
    return Thresholds(classes=chosen, default=default, source=about)
