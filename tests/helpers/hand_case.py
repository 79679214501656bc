"""A four-image dataset with predictions small enough to compute every confusion cell and threshold by hand.

Classes a, b, c; images 100x100 (pixels: x1, y1, x2, y2):

- 0.png: ground truth a [0,0,40,40], b [50,50,90,90]. Detections: a 0.875 on the a box (TP), c 0.75 on the b box
  (b found, named c), b 0.625 at [60,0,95,30] over nothing (false alarm).
- 1.png: ground truth a [10,10,50,50]. Detections: a 0.375 on it (TP), a 0.25 on it again (duplicate: FP).
- 2.png: ground truth c [20,20,80,80]. No detection (missed).
- 3.png: no label file (a defect-free part). Detection: a 0.5 at [0,0,30,30] (false alarm).

Scores are binary fractions, exact in float32, so thresholds need no rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAMES = ["a", "b", "c"]
SIZE = 100
GT = {
    "0.png": [([0, 0, 40, 40], 0), ([50, 50, 90, 90], 1)],
    "1.png": [([10, 10, 50, 50], 0)],
    "2.png": [([20, 20, 80, 80], 2)],
    "3.png": None,
}
PREDS = {
    "0.png": [[0, 0, 40, 40, 0.875, 0], [50, 50, 90, 90, 0.75, 2], [60, 0, 95, 30, 0.625, 1]],
    "1.png": [[10, 10, 50, 50, 0.375, 0], [10, 10, 50, 50, 0.25, 0]],
    "2.png": [],
    "3.png": [[0, 0, 30, 30, 0.5, 0]],
}


def predictions() -> dict[str, np.ndarray]:
    return {name: np.asarray(rows, dtype=np.float32).reshape(-1, 6) for name, rows in PREDS.items()}


def write_dataset(root: Path) -> Path:
    """The images, YOLO label files and data YAML under ``root``; returns the YAML's path."""
    import cv2

    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, boxes in GT.items():
        cv2.imwrite(str(root / "images" / "val" / name), rng.integers(60, 200, (SIZE, SIZE), dtype=np.uint8))
        if boxes is None:
            continue
        lines = [f"{c} {(x1 + x2) / 2 / SIZE} {(y1 + y2) / 2 / SIZE} {(x2 - x1) / SIZE} {(y2 - y1) / SIZE}"
                 for (x1, y1, x2, y2), c in boxes]
        (root / "labels" / "val" / name).with_suffix(".txt").write_text("\n".join(lines) + "\n")
    yaml_path = root / "data.yaml"
    yaml_path.write_text(f"path: {root}\ntrain: images/val\nval: images/val\nnames: {NAMES}\n")
    return yaml_path
