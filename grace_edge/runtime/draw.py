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


def _text_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light label backgrounds, white on dark ones (white on bright green or yellow cannot be read)."""
    b, g, r = color
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def draw_detections(image: np.ndarray, detections: Sequence[Detection], thickness: int | None = None,
                    min_side: int = 0) -> np.ndarray:
    """A BGR copy of ``image`` (gray or BGR uint8) with a box and ``name score`` label per detection.

    ``min_side`` > 0 enlarges a smaller image by a whole factor (nearest neighbour: pixels stay as they were) until
    its short side reaches it, so that labels on a 200x200 NEU-DET image stay readable; boxes scale with it.
    """
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 or image.shape[2] == 1 else image.copy()
    k = max(1, -(-min_side // max(1, min(canvas.shape[:2])))) if min_side > 0 else 1
    if k > 1:
        canvas = cv2.resize(canvas, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
    short = min(canvas.shape[:2])
    scale = max(0.35, short / 1200)
    thickness = thickness or max(1, round(short / 300))
    text_thickness = max(1, round(scale * 1.5))
    boxes = [(int(round(d.x1 * k)), int(round(d.y1 * k)), int(round(d.x2 * k)), int(round(d.y2 * k))) for d in detections]
    for d, (x1, y1, x2, y2) in zip(detections, boxes):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), class_color(d.class_id), thickness, cv2.LINE_AA)
    placed: list[tuple[int, int, int, int]] = []
    # Labels on top of all boxes, best score first; a label that would cover an earlier one is left out (its box
    # stays): stacked labels of near-duplicate boxes are unreadable, and every score is in the JSON anyway.
    for i in sorted(range(len(detections)), key=lambda i: -detections[i].score):
        d, (x1, y1, _, _) = detections[i], boxes[i]
        color = class_color(d.class_id)
        label = f"{d.class_name} {d.score:.2f}"
        (w, h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, text_thickness)
        left = max(0, min(x1, canvas.shape[1] - w))  # keep the label inside the image at the right edge
        top = y1 - h - base if y1 - h - base >= 0 else y1  # inside the box when it touches the top edge
        rect = (left, top, left + w, top + h + base)
        if any(rect[0] < r[2] and r[0] < rect[2] and rect[1] < r[3] and r[1] < rect[3] for r in placed):
            continue
        placed.append(rect)
        cv2.rectangle(canvas, rect[:2], rect[2:], color, -1)
        cv2.putText(canvas, label, (left, top + h), cv2.FONT_HERSHEY_SIMPLEX, scale, _text_color(color), text_thickness,
                    cv2.LINE_AA)
    return canvas
