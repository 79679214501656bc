"""Plain result types of the runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STAGES = ("preprocess", "h2d", "compute", "d2h", "postprocess")


@dataclass(frozen=True)
class Detection:
    """One detected defect, in the pixel coordinates of the image that was passed in."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int
    class_name: str

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
