"""The failure gallery: per class, the worst missed defects and the worst false alarms at the class's threshold
(the recall-target one written to thresholds.yaml), drawn on their images.

- A **missed defect** is a ground-truth box of class c that no class-c detection scoring >= the threshold matched.
  Worst first: the lowest best class-c score among detections overlapping it with IoU >= 0.5 (nothing at all
  first: the model did not see it), then the larger box (a big missed defect is worse).
- A **false alarm** is a class-c detection scoring >= the threshold that matched no class-c box. Worst first: the
  highest score.

Each tile shows every ground-truth box of the image (green, solid) and its best ``SHOWN`` detections at their
class's threshold (vermilion, dashed), the failing box drawn thicker, with the image's file name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.evaluate.coco import MATCH_IOU, box_iou
from grace_edge.evaluate.groundtruth import DatasetSplit
from grace_edge.evaluate.matching import ClassMatches

PER_KIND = 4  # tiles per row: missed defects, false alarms
SHOWN = 5  # detections drawn per tile besides the failure: the best-scoring ones (a low threshold keeps hundreds)


@dataclass(frozen=True)
class Failure:
    image: int  # index into split.images
    box: tuple[float, float, float, float]
    score: float  # missed: the best overlapping score of the class (0 if none); false alarm: its score
    kind: str  # "missed" | "false alarm"


def missed(m: ClassMatches, split: DatasetSplit, preds: Any, t: float, k: int = PER_KIND) -> list[Failure]:
    out = []
    for gi in np.flatnonzero(m.gt_score < t):
        im = split.images[m.gt_image[gi]]
        box = im.boxes[m.gt_row[gi]]
        out.append(Failure(int(m.gt_image[gi]), tuple(box.tolist()), _best_overlap(preds[im.name], box, split, m), "missed"))
    out.sort(key=lambda f: (f.score, -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    return out[:k]


def _best_overlap(det: np.ndarray, box: np.ndarray, split: DatasetSplit, m: ClassMatches) -> float:
    same = det[det[:, 5] == split.names.index(m.name)]
    if not len(same):
        return 0.0
    overlapping = box_iou(same[:, :4].astype(np.float64), box[None].astype(np.float64))[:, 0] >= MATCH_IOU
    return float(same[overlapping, 4].max()) if overlapping.any() else 0.0


def false_alarms(m: ClassMatches, split: DatasetSplit, preds: Any, t: float, k: int = PER_KIND) -> list[Failure]:
    out = []
    for di in np.flatnonzero((m.scores >= t) & ~m.tp)[:k]:  # scores are descending: the worst come first
        row = preds[split.images[m.det_image[di]].name][m.det_row[di]]
        out.append(Failure(int(m.det_image[di]), tuple(float(v) for v in row[:4]), float(m.scores[di]), "false alarm"))
    return out


def plot_gallery(name: str, failures: Sequence[Sequence[Failure]], split: DatasetSplit, preds: Any,
                 thresholds: np.ndarray, t: float, path: Path) -> Path:
    """Two rows (missed defects, false alarms) of up to PER_KIND tiles for class ``name`` at threshold ``t``."""
    from matplotlib.lines import Line2D

    from grace_edge.evaluate.figures import GT_COLOR, PRED_COLOR, pyplot, save

    fig, axes = pyplot().subplots(2, PER_KIND, figsize=(3.1 * PER_KIND, 7.0), squeeze=False)
    for r, (row, what) in enumerate(zip(failures, ("missed defects", "false alarms"))):
        for c in range(PER_KIND):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row):
                _tile(ax, row[c], split, preds, thresholds)
            elif c == 0:
                ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)
    handles = [Line2D([], [], color=GT_COLOR, linewidth=2, label="ground truth"),
               Line2D([], [], color=PRED_COLOR, linewidth=2, linestyle="--",
                      label=f"prediction (>= class threshold, best {SHOWN} per image)"),
               Line2D([], [], color="black", linewidth=3.5, label="the failure (thick)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"{name}: worst missed defects (top row) and false alarms (bottom row) at conf >= {t:.4f}")
    fig.subplots_adjust(bottom=0.08, top=0.9, hspace=0.25)
    return save(fig, path)


def _tile(ax: Any, f: Failure, split: DatasetSplit, preds: Any, thresholds: np.ndarray) -> None:
    from grace_edge.data.images import read_image
    from grace_edge.evaluate.figures import GT_COLOR, PRED_COLOR

    im = split.images[f.image]
    pixels = read_image(im.path)
    ax.imshow(pixels[..., ::-1] if pixels.ndim == 3 else pixels, cmap="gray", vmin=0, vmax=255)
    for box, cls in zip(im.boxes, im.classes):
        _box(ax, box, GT_COLOR, "-", 1.5, split.names[cls])
    det = preds[im.name]
    kept = det[det[:, 4] >= thresholds[det[:, 5].astype(np.int64)]]
    for row in kept[np.argsort(-kept[:, 4], kind="stable")][:SHOWN]:
        _box(ax, row[:4], PRED_COLOR, "--", 1.2, f"{split.names[int(row[5])]} {row[4]:.2f}")
    _box(ax, f.box, GT_COLOR if f.kind == "missed" else PRED_COLOR, "-" if f.kind == "missed" else "--", 3.5, None)
    ax.set_title(f"{im.name}\n{_caption(f)}", fontsize=8)


def _caption(f: Failure) -> str:
    if f.kind == "false alarm":
        return f"false alarm, score {f.score:.3f}"
    return "missed, nothing of its class on it" if f.score <= 0 else f"missed, best score on it {f.score:.3f}"


def _box(ax: Any, box: Sequence[float], color: str, linestyle: str, width: float, label: str | None) -> None:
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = (float(v) for v in box)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linestyle=linestyle,
                           linewidth=width))
    if label:
        ax.text(x1 + 1, y1 + 1, label, color="white", fontsize=6, va="top",
                bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "edgecolor": "none"})
