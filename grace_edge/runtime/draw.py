"""Draw detections on an image with OpenCV only (Hershey font built into OpenCV: nothing to download)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from grace_edge.runtime.types import Detection

# BGR, one per NEU-DET class, repeated for more classes.
PALETTE = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72))


def class_color(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def draw_detections(image: np.ndarray, detections: Sequence[Detection], thickness: int = 1) -> np.ndarray:
    """A BGR copy of ``image`` (gray or BGR uint8) with a box and ``name score`` label per detection."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 or image.shape[2] == 1 else image.copy()
    scale = max(0.3, min(canvas.shape[:2]) / 600)
    for d in detections:
        color = class_color(d.class_id)
        p1 = (int(round(d.x1)), int(round(d.y1)))
        p2 = (int(round(d.x2)), int(round(d.y2)))
        cv2.rectangle(canvas, p1, p2, color, thickness, cv2.LINE_AA)
        label = f"{d.class_name} {d.score:.2f}"
        (w, h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = p1[1] - h - base if p1[1] - h - base >= 0 else p1[1]  # inside the box when it touches the top edge
        cv2.rectangle(canvas, (p1[0], top), (p1[0] + w, top + h + base), color, -1)
        cv2.putText(canvas, label, (p1[0], top + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
