"""In-graph Cluster-NMS vs torchvision greedy batched_nms, in PyTorch and through ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grace_edge.export.onnx_export import to_onnx_model
from grace_edge.export.postprocess import InGraphPostprocess, cluster_nms_keep, greedy_nms_reference, pairwise_iou


def random_pred(batch: int, anchors: int, nc: int, seed: int, size: float = 160.0) -> torch.Tensor:
    """Head-like output [B, 4 + nc, A]: clustered xyxy boxes (many overlaps) and random class probabilities."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(batch, anchors // 8 + 1, 2, generator=g) * size
    pick = torch.randint(0, centers.shape[1], (batch, anchors), generator=g)
    c = centers.gather(1, pick[..., None].expand(-1, -1, 2)) + torch.randn(batch, anchors, 2, generator=g) * 4
    wh = 8 + torch.rand(batch, anchors, 2, generator=g) * 30
    boxes = torch.cat([c - wh / 2, c + wh / 2], -1)
    scores = torch.rand(batch, anchors, nc, generator=g) ** 3
    return torch.cat([boxes, scores], -1).transpose(1, 2).contiguous()


def chain_pred(length: int, nc: int = 2, shift: float = 3.0) -> torch.Tensor:
    """Adversarial chain: box i overlaps box i+1 above 0.5 IoU but box i+2 below it; scores fall along the chain.

    Greedy NMS keeps boxes 0, 2, 4, ...; Fast-NMS (one round) keeps only box 0; each Cluster-NMS round fixes one more.
    """
    x1 = torch.arange(length, dtype=torch.float32) * shift
    boxes = torch.stack([x1, torch.zeros(length), x1 + 10, torch.full((length,), 10.0)], -1)
    scores = torch.zeros(length, nc)
    scores[:, 0] = torch.linspace(0.9, 0.5, length)
    return torch.cat([boxes, scores], -1).T[None].contiguous()


def assert_same(graph: tuple[torch.Tensor, torch.Tensor], reference: list[torch.Tensor]) -> None:
    rows, count = graph
    for b, ref in enumerate(reference):
        n = int(count[b])
        assert n == len(ref), f"image {b}: graph kept {n}, greedy NMS kept {len(ref)}"
        np.testing.assert_allclose(rows[b, :n].numpy(), ref.numpy(), rtol=1e-5, atol=1e-4)
        assert not rows[b, n:].any(), "rows past num_detections must be zero"


def test_pairwise_iou_matches_torchvision():
    from torchvision.ops import box_iou

    boxes = random_pred(1, 64, 1, seed=3)[0, :4].T
    np.testing.assert_allclose(pairwise_iou(boxes[None])[0].numpy(), box_iou(boxes, boxes).numpy(), atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_cluster_nms_equals_greedy_on_random_boxes(seed):
    pred = random_pred(2, 400, 3, seed)
    post = InGraphPostprocess(nc=3, max_det=100, conf_thres=0.01, iou_thres=0.5, topk=600, nms_iters=20)
    assert_same(post(pred), greedy_nms_reference(pred, 0.01, 0.5, 100, topk=600))


@pytest.mark.parametrize("length", [2, 5, 9])
def test_cluster_nms_equals_greedy_on_chained_overlaps(length):
    pred = chain_pred(length)
    reference = greedy_nms_reference(pred, 0.1, 0.5, 100)
    assert len(reference[0]) == (length + 1) // 2  # the case really is a chain: greedy keeps every other box
    assert_same(InGraphPostprocess(2, 100, 0.1, 0.5, topk=100, nms_iters=length)(pred), reference)


def test_too_few_rounds_differ_from_greedy_on_a_long_chain():
    """Fast-NMS (one round) is not greedy NMS: this is why the graph iterates."""
    pred = chain_pred(7)
    rows, count = InGraphPostprocess(2, 100, 0.1, 0.5, topk=100, nms_iters=1)(pred)
    assert int(count[0]) == 1 and len(greedy_nms_reference(pred, 0.1, 0.5, 100)[0]) == 4


def test_classes_do_not_suppress_each_other():
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0.0, 0, 10, 10]]])
    assert cluster_nms_keep(boxes, torch.tensor([[0, 1]]), 0.5, 3).tolist() == [[1.0, 1.0]]
    assert cluster_nms_keep(boxes, torch.tensor([[1, 1]]), 0.5, 3).tolist() == [[1.0, 0.0]]


def test_conf_floor_max_det_and_zero_rows():
    pred = random_pred(1, 300, 2, seed=7)
    rows, count = InGraphPostprocess(2, max_det=5, conf_thres=0.2, iou_thres=0.5, topk=400, nms_iters=10)(pred)
    assert rows.shape == (1, 5, 6) and count.dtype == torch.int32 and int(count[0]) == 5
    assert (rows[0, :, 4] >= 0.2).all()
    rows, count = InGraphPostprocess(2, max_det=50, conf_thres=0.999, iou_thres=0.5, topk=400, nms_iters=10)(pred)
    n = int(count[0])
    assert n < 50 and not rows[0, n:].any()


def test_fewer_candidates_than_max_det_pads_with_zeros():
    pred = random_pred(1, 8, 2, seed=1)  # 16 (anchor, class) pairs < max_det
    rows, count = InGraphPostprocess(2, max_det=30, conf_thres=0.0, iou_thres=0.5, topk=100, nms_iters=10)(pred)
    assert rows.shape == (1, 30, 6) and int(count[0]) <= 16 and not rows[0, int(count[0]) :].any()


def test_onnx_runtime_graph_equals_greedy():
    """The exported postprocess graph itself (not just the PyTorch module) against torchvision."""
    import onnxruntime as ort

    post = InGraphPostprocess(nc=3, max_det=100, conf_thres=0.01, iou_thres=0.6, topk=500, nms_iters=20).eval()
    graph = to_onnx_model(post, random_pred(2, 400, 3, seed=11))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    for seed in (12, 13):
        pred = random_pred(2, 400, 3, seed)
        rows, count = session.run(None, {"images": pred.numpy()})
        assert_same((torch.from_numpy(rows), torch.from_numpy(count)), greedy_nms_reference(pred, 0.01, 0.6, 100, 500))


def test_exact_score_ties_keep_one_box():
    """Two identical same-class boxes with identical scores: greedy keeps one, so must the graph (tie-break by index)."""
    pred = torch.tensor([[[0.0, 0.0, 50.0], [0.0, 0.0, 50.0], [10.0, 10.0, 60.0], [10.0, 10.0, 60.0], [0.8, 0.8, 0.5]]])
    rows, count = InGraphPostprocess(1, max_det=5, conf_thres=0.1, iou_thres=0.5, topk=10, nms_iters=3)(pred)
    assert int(count[0]) == 2 == len(greedy_nms_reference(pred, 0.1, 0.5, 5)[0])
    assert rows[0, :2, 4].tolist() == pytest.approx([0.8, 0.5])


def max_iou_round(suppress_iou: torch.Tensor, keep: torch.Tensor, iou_thres: float) -> torch.Tensor:
    """The former round: max IoU over kept outranking boxes, recomputed from the K x K IoU matrix every round."""
    worst = (suppress_iou * keep[:, :, None]).amax(dim=1)
    return (worst <= iou_thres).to(suppress_iou.dtype)


@pytest.mark.parametrize("seed", range(3))
def test_matmul_rounds_equal_max_iou_rounds_at_every_round(seed):
    """The 0/1-matrix MatMul round is exactly the max-IoU round, round by round (not only at the fixed point)."""
    from grace_edge.export.postprocess import cluster_nms_round, outranks, suppression_matrix

    pred = random_pred(1, 300, 3, seed)
    post = InGraphPostprocess(nc=3, max_det=100, conf_thres=0.0, iou_thres=0.5, topk=400, nms_iters=1)
    boxes, scores, classes, index = post.candidates(pred)
    matrix = suppression_matrix(boxes, classes, 0.5, 1.0, scores, index)
    same_class = (classes[:, :, None] == classes[:, None, :]) & outranks(scores, index)
    iou = pairwise_iou(boxes) * same_class.to(boxes.dtype)
    keep_a = keep_b = torch.ones_like(scores)
    for _ in range(12):
        keep_a, keep_b = cluster_nms_round(matrix, keep_a), max_iou_round(iou, keep_b, 0.5)
        assert torch.equal(keep_a, keep_b)


def test_dfl_expectation_matches_ultralytics_dfl_without_softmax():
    from grace_edge.export.postprocess import DFLExpectation
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.nn.modules.block import DFL

    g = torch.Generator().manual_seed(0)
    for scale in (1.0, 8.0, 80.0):  # 80: exp() would overflow without the max subtraction
        x = torch.randn(2, 64, 500, generator=g) * scale
        ours, theirs = DFLExpectation(16)(x), DFL(16)(x)
        assert torch.isfinite(ours).all()
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=2e-5 * 15, rtol=0)  # bins 0..15
    graph = to_onnx_model(_TwoOutputs(DFLExpectation(16)).eval(), torch.zeros(1, 64, 500))
    ops = {n.op_type for n in graph.graph.node}
    assert "Softmax" not in ops and "Conv" not in ops and "Transpose" not in ops


class _TwoOutputs(torch.nn.Module):
    """to_onnx_model names two outputs."""

    def __init__(self, m: torch.nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.m(x)
        return y, y[:, :1]


def test_exported_graph_passes_the_tensorrt_conformance_check(tmp_path):
    """The lean decode and MatMul rounds use only ops and types TensorRT's ONNX parser takes (10.3 and 11.x)."""
    from grace_edge.engine.conformance import check_file
    from grace_edge.export.onnx_export import export_onnx
    from grace_edge.model.build import build_model

    path = export_onnx(build_model("grace-n"), tmp_path / "g.onnx", imgsz=64)
    assert [str(v) for v in check_file(path)] == []
