"""From detections to a part's verdict: ``ok``, ``reject`` (with the defects that caused it) or ``uninspected``.

A detection is a defect when its score reaches its class's threshold (grace_edge.thresholds, the one format), its box
covers at least ``min_area_px`` pixels, and the centre of its box lies inside the ROI mask (nonzero pixels) when
there is one. ``uninspected`` always carries a reason; it is never folded into ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from grace_edge.errors import InputError
from grace_edge.runtime.types import Detection
from grace_edge.thresholds import Thresholds

OK, REJECT, UNINSPECTED = "ok", "reject", "uninspected"
VERDICTS = (OK, REJECT, UNINSPECTED)
# Why a part was not inspected: the reason strings every sink and metric uses.
DROPPED, UNREADABLE, BACKEND_ERROR, SHUTDOWN = "dropped", "unreadable frame", "backend error", "shutdown"
REASONS = (DROPPED, UNREADABLE, BACKEND_ERROR, SHUTDOWN)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    defects: tuple[Detection, ...] = ()
    reason: str = ""  # one of REASONS for an uninspected part
    detail: str = ""  # the error message behind the reason, if any

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}")
        if (self.verdict == UNINSPECTED) != bool(self.reason):
            raise ValueError("an uninspected verdict needs a reason, and only it has one")


def uninspected(reason: str, detail: str = "") -> Verdict:
    return Verdict(UNINSPECTED, reason=reason, detail=detail)


def box_area(d: Detection) -> float:
    return max(0.0, d.x2 - d.x1) * max(0.0, d.y2 - d.y1)


@dataclass(frozen=True)
class VerdictRules:
    """The rules of one line, resolved against the model's class names."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    min_area_px: float = 0.0
    roi: np.ndarray | None = None  # bool HxW: True = inspected

    def floor(self, names: Sequence[str]) -> float:
        """The lowest threshold of any class: the Detector's conf (rows below it can never be defects)."""
        return float(self.thresholds.per_label(names).min()) if names else float(self.thresholds.default)

    def judge(self, detections: Sequence[Detection], shape: tuple[int, ...]) -> Verdict:
        if self.roi is not None and self.roi.shape != tuple(shape[:2]):
            return uninspected(UNREADABLE, f"frame is {shape[1]}x{shape[0]} but the ROI mask is "
                                           f"{self.roi.shape[1]}x{self.roi.shape[0]}")
        defects = tuple(d for d in detections if self._is_defect(d))
        return Verdict(REJECT, defects) if defects else Verdict(OK)

    def _is_defect(self, d: Detection) -> bool:
        if d.score < self.thresholds.for_class(d.class_name) or box_area(d) < self.min_area_px:
            return False
        if self.roi is None:
            return True
        h, w = self.roi.shape
        cx = min(w - 1, max(0, int((d.x1 + d.x2) / 2)))
        cy = min(h - 1, max(0, int((d.y1 + d.y2) / 2)))
        return bool(self.roi[cy, cx])


def load_roi(path: str) -> np.ndarray:
    """The mask image at ``path`` as a bool array (nonzero = inspected)."""
    from grace_edge.data.images import decode_image

    image, why = decode_image(path, channels=1)
    if image is None:
        raise InputError(f"ROI mask {path}: {why}")
    if not image.any():
        raise InputError(f"ROI mask {path}: every pixel is 0, so nothing would ever be inspected")
    return image > 0
