"""The confusion matrix at one confidence and IoU 0.5, with a background row and column.

Rows are the truth (each class, then ``background``: no ground-truth box there), columns the prediction (each class,
then ``background``: no detection there). Per image, detections with ``score >= conf``, best first:

1. same class: greedy IoU >= 0.5 matching of :func:`grace_edge.evaluate.coco.match_greedy`, the one behind precision
   and recall at ``--f1-conf``, so the diagonal is exactly those true positives;
2. wrong class: each still unmatched detection, best first, takes the unmatched ground-truth box of any class with
   the highest IoU if it is >= 0.5 (a defect found but named wrong: cell [true class, predicted class]);
3. the rest: an unmatched detection is a false alarm (row background), an unmatched box a miss (column background).

So row c sums to the ground-truth boxes of class c and column c to the detections of class c. The background /
background cell is always 0 (correctly empty space is not counted). Normalised, each class row is divided by its
box count (the diagonal is that class's recall; a row of a class without boxes stays 0) and the background row by
its sum (which classes the false alarms are).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from grace_edge.evaluate.coco import MATCH_IOU, box_iou, match_greedy
from grace_edge.evaluate.groundtruth import DatasetSplit, ImageLabels


def confusion_matrix(split: DatasetSplit, preds: Mapping[str, np.ndarray], conf: float,
                     iou: float = MATCH_IOU) -> np.ndarray:
    """int64 [nc + 1, nc + 1]: rows truth, columns prediction, index nc = background."""
    nc = len(split.names)
    matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    for im in split.images:
        det = preds[im.name]
        det = det[det[:, 4] >= conf]
        _add_image(matrix, im, det[np.argsort(-det[:, 4], kind="stable")], iou)
    return matrix


def _add_image(matrix: np.ndarray, im: ImageLabels, det: np.ndarray, iou: float) -> None:
    nc = matrix.shape[0] - 1
    det_cls = det[:, 5].astype(np.int64)
    det_free = np.ones(len(det), dtype=bool)
    gt_free = np.ones(len(im.classes), dtype=bool)
    for c in np.union1d(np.unique(im.classes), np.unique(det_cls)):  # 1. same class
        d, g = np.flatnonzero(det_cls == c), np.flatnonzero(im.classes == c)
        matched = match_greedy(det[d, :4], im.boxes[g], iou)
        det_free[d[matched >= 0]] = False
        gt_free[g[matched[matched >= 0]]] = False
        matrix[c, c] += int((matched >= 0).sum())
    ious = box_iou(det[:, :4].astype(np.float64), im.boxes)
    for i in np.flatnonzero(det_free):  # 2. wrong class, best detection first
        row = np.where(gt_free, ious[i], -1.0)
        if len(row) and row.max() >= iou:
            j = int(row.argmax())
            gt_free[j] = det_free[i] = False
            matrix[im.classes[j], det_cls[i]] += 1
    np.add.at(matrix, (np.full(int(det_free.sum()), nc), det_cls[det_free]), 1)  # 3. false alarms
    np.add.at(matrix, (im.classes[gt_free], np.full(int(gt_free.sum()), nc)), 1)  # 3. misses


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (0 where a row is empty): see the module docstring."""
    sums = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(matrix, sums, out=np.zeros(matrix.shape, dtype=np.float64), where=sums > 0)


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path, *, normalised: bool, conf: float) -> Path:
    from grace_edge.evaluate.figures import pyplot, save

    plt = pyplot()
    labels = [*names, "background"]
    values = normalise(matrix) if normalised else matrix
    fig, ax = plt.subplots(figsize=(7.6, 6.4))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalised else max(1, int(matrix.max())))
    ax.grid(False)
    for (r, c), v in np.ndenumerate(values):
        text = (f"{v:.2f}" if v else "") if normalised else (str(v) if v else "")
        dark = v > (0.5 if normalised else matrix.max() / 2)
        ax.text(c, r, text, ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (ground truth)")
    kind = "share of each true row" if normalised else "boxes"
    ax.set_title(f"Confusion matrix ({kind}), conf >= {conf:g}, IoU >= {MATCH_IOU:g}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of row" if normalised else "boxes")
    return save(fig, path)
