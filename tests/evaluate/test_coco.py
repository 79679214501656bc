"""COCO metrics and P/R/F1 on hand-made cases with known answers, and agreement with pycocotools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.evaluate import evaluate_predictions
from grace_edge.evaluate.coco import box_iou, to_coco
from grace_edge.evaluate.groundtruth import DatasetSplit, ImageLabels

NAMES = ["a", "b", "c"]


def make_split(*images: tuple[list[list[float]], list[int]], size: int = 200) -> DatasetSplit:
    """A split of ``size``x``size`` images from (boxes x1y1x2y2, classes) pairs, named 0.jpg, 1.jpg, ..."""
    return DatasetSplit(NAMES, "val", [
        ImageLabels(f"{i}.jpg", Path(f"{i}.jpg"), size, size,
                    np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(classes, dtype=np.int64), None)
        for i, (boxes, classes) in enumerate(images)
    ])


def dets(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, 6)


def test_perfect_predictions_score_one() -> None:
    split = make_split(([[10, 10, 60, 80], [100, 100, 190, 150]], [0, 1]), ([[5, 5, 25, 25]], [2]))
    preds = {"0.jpg": dets([10, 10, 60, 80, 0.9, 0], [100, 100, 190, 150, 0.8, 1]),
             "1.jpg": dets([5, 5, 25, 25, 0.7, 2])}
    r = evaluate_predictions(preds, split)
    assert r.map50_95 == pytest.approx(1.0) and r.map50 == pytest.approx(1.0) and r.map75 == pytest.approx(1.0)
    assert r.per_class == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})
    assert (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)
    assert r.instances == {"a": 1, "b": 1, "c": 1} and r.images == 2


def test_shifted_box_counts_only_at_iou_thresholds_it_reaches() -> None:
    # Same-size 100x100 boxes shifted by 20 px: IoU = 80/120 = 0.667, a match at thresholds 0.50..0.65 (4 of 10).
    split = make_split(([[0, 0, 100, 100]], [0]))
    r = evaluate_predictions({"0.jpg": dets([20, 0, 120, 100, 0.9, 0])}, split)
    assert box_iou(np.array([[0, 0, 100, 100.0]]), np.array([[20, 0, 120, 100.0]]))[0, 0] == pytest.approx(2 / 3)
    assert r.map50 == pytest.approx(1.0)
    assert r.map75 == pytest.approx(0.0)
    assert r.map50_95 == pytest.approx(0.4)
    all_row = r.table().splitlines()[1].split()
    assert all_row[:4] == ["all", "1", "40.00", "100.00"]  # printed in points, as the gate and training print mAP
    assert "(points, 0-100)" in r.table().splitlines()[0]


def test_class_without_ground_truth_is_none_and_left_out_of_the_mean() -> None:
    split = make_split(([[0, 0, 50, 50], [100, 100, 150, 150]], [0, 1]))
    r = evaluate_predictions({"0.jpg": dets([0, 0, 50, 50, 0.9, 0])}, split)  # class b missed, class c absent
    assert r.per_class == {"a": pytest.approx(1.0), "b": 0.0, "c": None}
    assert r.map50_95 == pytest.approx(0.5)  # mean over a and b only
    assert (r.tp["b"], r.fn["b"]) == (0, 1) and r.recall == pytest.approx(0.5) and r.precision == 1.0


def test_wrong_class_is_a_false_positive() -> None:
    split = make_split(([[0, 0, 50, 50]], [0]))
    r = evaluate_predictions({"0.jpg": dets([0, 0, 50, 50, 0.9, 1])}, split)
    assert r.map50_95 == 0.0 and (r.tp["a"], r.fn["a"], r.fp["b"]) == (0, 1, 1)


def test_size_bins_use_coco_areas_in_original_pixels() -> None:
    # small 20x20=400 < 32^2, medium 50x50=2500, large 120x120=14400 > 96^2; only the medium one is found.
    split = make_split(([[0, 0, 20, 20], [30, 30, 80, 80], [80, 80, 200, 200]], [0, 0, 0]))
    r = evaluate_predictions({"0.jpg": dets([30, 30, 80, 80, 0.9, 0])}, split)
    assert (r.ap_small, r.ap_medium, r.ap_large) == (pytest.approx(0.0), pytest.approx(1.0), pytest.approx(0.0))
    only_medium = make_split(([[30, 30, 80, 80]], [1]))
    r = evaluate_predictions({"0.jpg": dets([30, 30, 80, 80, 0.9, 1])}, only_medium)
    assert r.ap_small is None and r.ap_large is None and r.ap_medium == pytest.approx(1.0)


def test_greedy_matching_at_f1_conf() -> None:
    # Two boxes of class a; three detections: one good above conf, one duplicate above conf, one good below conf.
    split = make_split(([[0, 0, 50, 50], [100, 100, 150, 150]], [0, 0]))
    preds = {"0.jpg": dets([0, 0, 50, 50, 0.9, 0], [2, 2, 50, 50, 0.8, 0], [100, 100, 150, 150, 0.1, 0])}
    r = evaluate_predictions(preds, split, f1_conf=0.25)
    assert (r.tp["a"], r.fp["a"], r.fn["a"]) == (1, 1, 1)
    assert (r.precision, r.recall, r.f1) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    r = evaluate_predictions(preds, split, f1_conf=0.05)
    assert (r.tp["a"], r.fp["a"], r.fn["a"]) == (2, 1, 0)


def test_greedy_takes_highest_score_first_and_best_iou() -> None:
    split = make_split(([[0, 0, 100, 100], [60, 0, 160, 100]], [0, 0]))
    # The top detection overlaps both boxes, best with the second; the lower one then takes the first box.
    preds = {"0.jpg": dets([50, 0, 150, 100, 0.9, 0], [0, 0, 90, 100, 0.8, 0])}
    r = evaluate_predictions(preds, split)
    assert (r.tp["a"], r.fp["a"], r.fn["a"]) == (2, 0, 0)


def test_no_detections_anywhere() -> None:
    split = make_split(([[0, 0, 50, 50]], [0]), ([], []))
    r = evaluate_predictions({"0.jpg": dets(), "1.jpg": np.zeros((0, 6))}, split)
    assert r.map50_95 == 0.0 and r.recall == 0.0 and r.precision == 0.0 and r.images == 2


@pytest.mark.parametrize(
    ("preds", "message"),
    [
        ({}, "no entry for 1 image"),
        ({"0.jpg": dets(), "x.jpg": dets()}, "not in split"),
        ({"0.jpg": np.zeros((2, 5))}, "expected shape"),
        ({"0.jpg": dets([0, 0, 10, 10, np.nan, 0])}, "NaN"),
        ({"0.jpg": dets([0, 0, 10, 10, 0.5, 3])}, "class values"),
        ({"0.jpg": dets([0, 0, 10, 10, 0.5, 0.5])}, "class values"),
        ({"0.jpg": dets([10, 0, 0, 10, 0.5, 0])}, "x2 < x1"),
    ],
)
def test_bad_predictions_are_input_errors(preds: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        evaluate_predictions(preds, make_split(([[0, 0, 50, 50]], [0])))


def random_case(seed: int) -> tuple[DatasetSplit, dict[str, np.ndarray]]:
    """Random boxes of all sizes; predictions are jittered ground truth plus random false positives."""
    rng = np.random.default_rng(seed)
    images, preds = [], {}
    for i in range(25):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 150, (n, 2))
        wh = rng.uniform(4, 200, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, 200)], axis=1)
        classes = rng.integers(0, len(NAMES), n)
        images.append((boxes.tolist(), classes.tolist()))
        keep = rng.random(n) < 0.8
        jitter = boxes[keep] + rng.normal(0, 6, (int(keep.sum()), 4))
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        m = int(rng.integers(0, 5))
        fxy = rng.uniform(0, 150, (m, 2))
        fp = np.concatenate([fxy, fxy + rng.uniform(5, 60, (m, 2))], axis=1)
        rows = np.concatenate([
            np.concatenate([jitter, rng.uniform(0.2, 1, (len(jitter), 1)), classes[keep, None]], axis=1),
            np.concatenate([fp, rng.uniform(0, 0.9, (m, 1)), rng.integers(0, len(NAMES), (m, 1))], axis=1),
        ])
        preds[f"{i}.jpg"] = rows
    return make_split(*images), preds


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_pycocotools(seed: int) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    split, preds = random_case(seed)
    ours = evaluate_predictions(preds, split)
    gt_dict, detections = to_coco(split, preds)
    gt = COCO()
    gt.dataset = gt_dict
    gt.createIndex()
    ref = COCOeval(gt, gt.loadRes(detections), iouType="bbox")
    ref.evaluate()
    ref.accumulate()
    ref.summarize()
    ours_stats = [ours.map50_95, ours.map50, ours.map75, ours.ap_small, ours.ap_medium, ours.ap_large]
    assert ours_stats == pytest.approx([v if v > -1 else None for v in ref.stats[:6]], abs=1e-9)
    for k, name in enumerate(NAMES):
        p = ref.eval["precision"][:, :, k, 0, -1]
        assert ours.per_class[name] == pytest.approx(p[p > -1].mean(), abs=1e-9)
        p50 = ref.eval["precision"][0, :, k, 0, -1]
        assert ours.per_class_ap50[name] == pytest.approx(p50[p50 > -1].mean(), abs=1e-9)
    assert 0.2 < ours.map50_95 < 0.95  # a non-trivial case, not all hits or all misses
