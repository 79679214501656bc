"""Every detection of a split matched once, per class, at IoU >= 0.5: the table the report's curves, operating
points and failure gallery are read from.

The matching is :func:`grace_edge.evaluate.coco.match_greedy` (the one behind precision / recall at ``--f1-conf``),
run over all detections in descending score order; the TP / FP split at any confidence ``t`` is then the split of the
detections with ``score >= t`` (see ``match_greedy``), so a count at ``t`` equals ``greedy_counts`` at ``t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from grace_edge.errors import InputError
from grace_edge.evaluate.coco import match_greedy
from grace_edge.evaluate.groundtruth import DatasetSplit


@dataclass(frozen=True)
class ClassMatches:
    """One class over the whole split. Detections are in descending score order."""

    name: str
    scores: np.ndarray  # [d] float, descending
    tp: np.ndarray  # [d] bool: matched a ground-truth box of this class
    det_image: np.ndarray  # [d] int: index of the detection's image in split.images
    det_row: np.ndarray  # [d] int: its row in that image's prediction array
    gt_image: np.ndarray  # [g] int: image index of each ground-truth box of this class
    gt_row: np.ndarray  # [g] int: its row in that image's boxes
    gt_score: np.ndarray  # [g] float: score of the detection matched to it, -inf if none (missed at any threshold)
    good_max: np.ndarray  # [n] float: per image WITHOUT this class, its highest score of this class (-inf if none)

    @property
    def num_gt(self) -> int:
        return len(self.gt_score)

    def counts(self, t: float) -> tuple[int, int, int]:
        """(TP, FP, FN) keeping detections with score >= ``t``."""
        kept = self.scores >= t
        tp = int(self.tp[kept].sum())
        return tp, int(kept.sum()) - tp, self.num_gt - tp

    def false_rejects(self, t: float) -> int:
        """Good parts for this class (images with no ground-truth box of it) on which it fires at ``t``."""
        return int((self.good_max >= t).sum())


def _image_class(dets: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Descending-score order of ``dets`` and, in that order, the ground-truth row each matched (-1: none)."""
    order = np.argsort(-dets[:, 4], kind="stable")
    return order, match_greedy(dets[order, :4], gt)


def match_split(split: DatasetSplit, preds: Mapping[str, np.ndarray]) -> list[ClassMatches]:
    """Per class of ``split``, all its detections in ``preds`` matched to its ground truth."""
    if not split.images:
        raise InputError(f"split {split.split!r} has no images: nothing to match")
    return [_match_class(split, preds, c) for c in range(len(split.names))]


def _match_class(split: DatasetSplit, preds: Mapping[str, np.ndarray], c: int) -> ClassMatches:
    det_parts: list[tuple[np.ndarray, ...]] = []
    gt_parts: list[tuple[np.ndarray, ...]] = []
    good_max: list[float] = []
    for i, im in enumerate(split.images):
        det = preds[im.name]
        rows = np.flatnonzero(det[:, 5] == c)
        gt_rows = np.flatnonzero(im.classes == c)
        order, matched = _image_class(det[rows], im.boxes[gt_rows])
        rows = rows[order]
        scores = det[rows, 4].astype(np.float64)
        det_parts.append((scores, matched >= 0, np.full(len(rows), i), rows))
        gt_score = np.full(len(gt_rows), -np.inf)
        gt_score[matched[matched >= 0]] = scores[matched >= 0]
        gt_parts.append((np.full(len(gt_rows), i), gt_rows, gt_score))
        if not len(gt_rows):
            good_max.append(float(scores.max()) if len(scores) else -np.inf)
    scores, tp, det_image, det_row = (np.concatenate(p) if p else np.zeros(0) for p in zip(*det_parts))
    order = np.argsort(-scores, kind="stable")
    gt_image, gt_row, gt_score = (np.concatenate(p) for p in zip(*gt_parts))
    return ClassMatches(
        split.names[c], scores[order], tp[order].astype(bool), det_image[order].astype(np.int64),
        det_row[order].astype(np.int64), gt_image.astype(np.int64), gt_row.astype(np.int64), gt_score,
        np.asarray(good_max, dtype=np.float64),
    )
