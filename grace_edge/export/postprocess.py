"""In-graph decode and postprocessing: the DFL box decode (:class:`DFLExpectation`), class-aware top-K candidates,
Cluster-NMS, then the top ``max_det`` kept rows.

Everything has a static shape and uses standard ONNX ops only (TopK, GatherElements, MatMul, elementwise math,
ReduceMax/ReduceSum), with no NonMaxSuppression, NonZero, Loop or If, so TensorRT 10.3 and 11.x build it and a CUDA
graph can capture it.

Cluster-NMS (Zheng et al., "Enhancing Geometric Factors in Model Learning and Inference for Object Detection and
Instance Segmentation", 2021) starts from Fast-NMS (every higher-scored box suppresses) and repeats it with only the
boxes kept so far allowed to suppress. At its fixed point the kept set is exactly greedy NMS's; a chain of ``L``
boxes, each suppressing the next, needs at most ``L`` rounds. We run a fixed number of rounds (``iters``).

Classes never suppress each other: the IoU matrix is multiplied by a same-class mask instead of offsetting boxes by
``class * max_wh``, which would cost float16 all its precision. IoU is computed on boxes divided by ``box_scale`` so
that areas stay far below the float16 limit (65504) in a reduced-precision build.
"""

from __future__ import annotations

import torch
from torch import nn

from grace_edge.export.topk import DEFAULT_TOPK  # why K = 300: see grace_edge/export/topk.py

# Rounds measured with benchmarks/nms_parity.py (results/nms_parity.md: GRACE-n trained at 128 px, NEU-DET val,
# 360 images, conf 0.001, IoU 0.7): greedy's fixed point needs p50 6 / p99 11 / max 13 rounds. 8 rounds already give
# greedy's mAP (delta 0.000 pt) but only 93% of images identical; 16 rounds give 99.7% identical (the remaining image
# differs by ties), Fast-NMS (1 round) keeps the wrong set.
DEFAULT_NMS_ITERS = 16


def pairwise_iou(boxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """IoU of every pair of xyxy boxes: [B, K, 4] -> [B, K, K]."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    w = (torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :])).clamp(min=0)
    h = (torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :])).clamp(min=0)
    inter = w * h
    return inter / (area[:, :, None] + area[:, None, :] - inter + eps)


def outranks(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """[B, K, K] bool: candidate i outranks j (higher score; on a tie, lower flat index, as ONNX TopK orders them).

    Computed from the data rather than as a constant K x K upper-triangle, which would add K*K bytes to the file,
    and so that the rank does not depend on how a runtime's TopK orders ties.
    """
    higher = scores[:, :, None] > scores[:, None, :]
    tie = (scores[:, :, None] == scores[:, None, :]) & (index[:, :, None] < index[:, None, :])
    return higher | tie


def suppression_matrix(
    boxes: torch.Tensor,
    classes: torch.Tensor,
    iou_thres: float,
    box_scale: float = 1.0,
    scores: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """[B, i, j] float 0/1: 1 where box i may suppress box j (i outranks j, same class, IoU > ``iou_thres``).

    Rank: by ``scores`` then ``index`` (see :func:`outranks`) when given, else the boxes' order (first is best).
    Computed once per image; every Cluster-NMS round then only reads it (see :func:`cluster_nms_round`).
    """
    iou = pairwise_iou(boxes / box_scale)
    if scores is None or index is None:
        order = torch.arange(boxes.shape[1], device=boxes.device)
        higher_first = (order[:, None] < order[None, :])[None]
    else:
        higher_first = outranks(scores, index)
    mask = (classes[:, :, None] == classes[:, None, :]) & higher_first & (iou > iou_thres)
    return mask.to(boxes.dtype)


def cluster_nms_round(suppress: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """One Cluster-NMS round: a box stays if no kept box may suppress it (``suppress`` from :func:`suppression_matrix`).

    ``keep @ suppress`` counts, per box, the kept boxes that suppress it: one [1, K] x [K, K] MatMul per image
    instead of a K x K product and max per round. The counts are small integers (<= K <= 3839), exact in float32
    (and float16), so the test ``count < 0.5`` is exactly "no kept suppressor", as in the max-IoU formulation.
    """
    count = torch.matmul(keep[:, None, :], suppress)[:, 0]
    return (count < 0.5).to(suppress.dtype)


def cluster_nms_keep(
    boxes: torch.Tensor,
    classes: torch.Tensor,
    iou_thres: float,
    iters: int,
    box_scale: float = 1.0,
    scores: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Keep mask (float 0/1, [B, K]) of class-aware Cluster-NMS after ``iters`` rounds.

    ``boxes`` [B, K, 4] xyxy, ``classes`` [B, K]; ranking as in :func:`suppression_matrix`. Equals greedy NMS once
    ``iters`` reaches the longest suppression chain among the K boxes.
    """
    suppress = suppression_matrix(boxes, classes, iou_thres, box_scale, scores, index)
    keep = torch.ones_like(boxes[..., 0])
    for _ in range(iters):
        keep = cluster_nms_round(suppress, keep)
    return keep


class DFLExpectation(nn.Module):
    """Ultralytics' DFL decode (expected distance under a softmax over ``c1`` bins) without Softmax(axis=1).

    Ultralytics writes it as Reshape -> Transpose -> Softmax(axis=1) -> a fixed 1x1 convolution with weights
    0..c1-1. ONNX Runtime's Softmax over a non-last axis transposes internally and was ~5 ms of a ~55 ms CPU run;
    here it is ``sum(e * bin) / sum(e)`` with ``e = exp(x - max(x))`` over the bin axis: elementwise ops and two
    reductions, no transpose, no convolution (so no Q/DQ pair can land on it), and the same for TensorRT.
    Subtracting the max keeps exp() finite for any logits; the ratio is the softmax-weighted sum, mathematically
    equal to Ultralytics' result (float rounding differs by ~1e-6 of a bin).
    """

    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.c1 = c1
        self.register_buffer("bins", torch.arange(c1, dtype=torch.float32).view(1, 1, c1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # [B, 4 * c1, A] -> [B, 4, A]
        x = x.view(b, 4, self.c1, a)
        e = (x - x.amax(dim=2, keepdim=True)).exp()
        return (e * self.bins.to(e.dtype)).sum(2) / e.sum(2)


class InGraphPostprocess(nn.Module):
    """Decoded head output [B, 4 + nc, A] (xyxy boxes, class probabilities) -> (detections, num_detections).

    ``detections`` [B, max_det, 6] float32 (x1, y1, x2, y2, score, class), valid rows first by score, invalid rows
    zero; ``num_detections`` [B] int32 counts rows with score >= conf_thres that survived NMS.
    """

    def __init__(
        self,
        nc: int,
        max_det: int = 100,
        conf_thres: float = 0.001,
        iou_thres: float = 0.7,
        topk: int = DEFAULT_TOPK,
        nms_iters: int = DEFAULT_NMS_ITERS,
        box_scale: float = 640.0,
    ) -> None:
        super().__init__()
        if not 1 <= max_det <= topk:
            raise ValueError(f"max_det ({max_det}) must be between 1 and topk ({topk})")
        if nms_iters < 1:
            raise ValueError(f"nms_iters must be at least 1, got {nms_iters}")
        self.nc, self.max_det, self.topk, self.nms_iters = nc, max_det, topk, nms_iters
        self.conf_thres, self.iou_thres, self.box_scale = float(conf_thres), float(iou_thres), float(box_scale)

    def candidates(self, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-K (anchor, class) pairs: boxes [B, K, 4], scores [B, K] (descending), classes [B, K], flat index [B, K]."""
        boxes = pred[:, :4].transpose(1, 2)  # [B, A, 4]
        scores = pred[:, 4 : 4 + self.nc].transpose(1, 2).flatten(1)  # [B, A * nc], anchor-major
        k = min(self.topk, scores.shape[1])
        top_scores, index = scores.topk(k, dim=1)
        anchor = torch.div(index, self.nc, rounding_mode="trunc")  # index >= 0: trunc is floor, one Div op
        classes = index - anchor * self.nc
        top_boxes = boxes.gather(1, anchor[..., None].expand(-1, -1, 4))
        return top_boxes, top_scores, classes, index

    def forward(self, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores, classes, index = self.candidates(pred)
        keep = cluster_nms_keep(boxes, classes, self.iou_thres, self.nms_iters, self.box_scale, scores, index)
        valid = keep * (scores >= self.conf_thres).to(scores.dtype)
        ranked = scores * valid - (1.0 - valid)  # dropped candidates sink below every kept one
        n = min(self.max_det, ranked.shape[1])
        _, order = ranked.topk(n, dim=1)
        rows = torch.cat([boxes, scores[..., None], classes[..., None].to(boxes.dtype)], dim=-1)
        rows = rows.gather(1, order[..., None].expand(-1, -1, 6)) * valid.gather(1, order)[..., None]
        if n < self.max_det:  # fewer candidates than max_det (tiny inputs): pad with zero rows
            rows = torch.cat([rows, rows.new_zeros(rows.shape[0], self.max_det - n, 6)], dim=1)
        count = valid.sum(1).clamp(max=self.max_det).to(torch.int32)
        return rows, count


def greedy_nms_reference(
    pred: torch.Tensor, conf_thres: float, iou_thres: float, max_det: int, topk: int | None = None
) -> list[torch.Tensor]:
    """Host-side reference: multi-label candidates (optionally the top ``topk``), torchvision greedy ``batched_nms``.

    ``pred`` [B, 4 + nc, A] xyxy boxes + class probabilities. Returns per image a [n, 6] tensor
    (x1, y1, x2, y2, score, class), n <= max_det, by descending score. Used by tests and benchmarks.
    """
    from torchvision.ops import batched_nms

    nc = pred.shape[1] - 4
    out = []
    for p in pred:
        boxes, scores = p[:4].T, p[4:].T.flatten()  # anchor-major, as in the graph
        if topk is not None:
            scores, index = scores.topk(min(topk, scores.numel()))
        else:
            index = torch.arange(scores.numel())
        mask = scores >= conf_thres
        scores, index = scores[mask], index[mask]
        anchor, classes = index // nc, index % nc
        keep = batched_nms(boxes[anchor], scores, classes, iou_thres)[:max_det]
        out.append(torch.cat([boxes[anchor][keep], scores[keep, None], classes[keep, None].to(boxes.dtype)], 1))
    return out
