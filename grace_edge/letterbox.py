"""Ultralytics' letterbox geometry, shared by the host path (runtime) and the in-graph path (export).

Both must place an image exactly as Ultralytics' ``LetterBox(auto=False, center=True)`` does, so the numbers come
from this one place. Pure Python: the runtime imports it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAD_VALUE = 114  # Ultralytics' letterbox fill


@dataclass(frozen=True)
class Letterbox:
    """How a ``source`` (height, width) image is resized and padded into a ``target`` (height, width) input."""

    source: tuple[int, int]
    target: tuple[int, int]
    ratio: float
    resized: tuple[int, int]  # (height, width) after the resize, before padding
    top: int
    bottom: int
    left: int
    right: int

    @classmethod
    def plan(cls, source: tuple[int, int], target: tuple[int, int]) -> "Letterbox":
        (h, w), (th, tw) = source, target
        r = min(th / h, tw / w)
        rw, rh = max(round(w * r), 1), max(round(h * r), 1)
        dw, dh = (tw - rw) / 2, (th - rh) / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        return cls((h, w), (th, tw), r, (rh, rw), top, bottom, left, right)

    def unmap(self, boxes: Any) -> Any:
        """Map ``[n, >=4]`` x1,y1,x2,y2 numpy rows from network pixels to source pixels (in place), clipped.

        Uses the per-axis scale of the actual (rounded) resize, as Ultralytics' ``scale_boxes`` does."""
        (h, w), (rh, rw) = self.source, self.resized
        boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - self.left) / (rw / w)).clip(0, w)
        boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - self.top) / (rh / h)).clip(0, h)
        return boxes
