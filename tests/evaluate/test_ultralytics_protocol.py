"""The Ultralytics protocol reproduces what ``model.val()`` computes, and differs from COCO where it should."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from grace_edge.evaluate.groundtruth import DatasetSplit, ImageLabels


def _synthetic_validator(store, capturing):
    """Ultralytics' own validator (captured by our subclass) whose "model output" is jittered ground truth in canvas
    pixels: boxes running into the padding, wrong classes, a second class per box (as multi-label NMS gives)."""
    import torch
    from ultralytics.utils import ops

    base = capturing(store)

    class Synthetic(base):
        def preprocess(self, batch):
            self._batch = super().preprocess(batch)
            return self._batch

        def postprocess(self, preds):
            out, b = [], self._batch
            h, w = b["img"].shape[2:]
            for si in range(b["img"].shape[0]):
                idx = b["batch_idx"] == si
                gt = ops.xywh2xyxy(b["bboxes"][idx]) * torch.tensor([w, h, w, h])
                cls = b["cls"][idx].reshape(-1)
                g = torch.Generator().manual_seed(zlib.crc32(b["im_file"][si].rsplit("/", 1)[-1].encode()))  # file name: same every run
                size = (gt[:, 2:] - gt[:, :2]).repeat(1, 2)
                boxes = torch.cat([gt + 0.15 * size * torch.randn(gt.shape, generator=g),
                                   gt + torch.tensor([-12.0, -12.0, 12.0, 12.0]),  # grows into the padding
                                   gt + 0.3 * size * torch.randn(gt.shape, generator=g)])
                boxes = torch.cat([boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])], 1)  # x1 <= x2
                labels = torch.cat([cls, cls, (cls + torch.randint(0, 2, cls.shape, generator=g)) % 6])
                conf = torch.rand(len(boxes), generator=g) * 0.9 + 0.05
                order = conf.argsort(descending=True)
                out.append({"bboxes": boxes[order], "conf": conf[order], "cls": labels[order].float(),
                            "extra": torch.zeros(len(boxes), 0)})
            return out

    return Synthetic


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import torch

    from grace_edge.model.build import build_model

    path = tmp_path_factory.mktemp("weights") / "grace-n.pt"
    torch.save({"model": build_model("grace-n").half(), "train_args": {"imgsz": 64}}, path)
    return path


@pytest.mark.data
def test_metrics_equal_ultralytics_own_val(tiny_dataset, weights, monkeypatch):
    from grace_edge.evaluate import ultralytics_protocol as up
    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.evaluate.predict import check_predictions

    real = up._capturing_validator
    monkeypatch.setattr(up, "_capturing_validator", lambda store: _synthetic_validator(store, real))
    split = read_split(tiny_dataset, "val")
    preds, _, theirs = up.predict_ultralytics(weights, split, imgsz=64, batch=4, device="cpu")
    ours = up.ultralytics_metrics(check_predictions(preds, split), split)
    assert 0.02 < theirs["metrics/mAP50-95(B)"] < 0.95  # a test that could fail: far from 0 and from 1
    assert any((p[:, :2] < 0).any() or (p[:, 2] > 200).any() or (p[:, 3] > 200).any() for p in preds.values())
    expected = [theirs[f"metrics/{k}(B)"] for k in ("mAP50-95", "mAP50", "precision", "recall")]
    assert [ours.map50_95, ours.map50, ours.precision, ours.recall] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def _split(boxes, classes) -> DatasetSplit:
    from pathlib import Path

    im = ImageLabels("a.jpg", Path("a.jpg"), 200, 200, np.asarray(boxes, float), np.asarray(classes), None)
    return DatasetSplit(["x", "y"], "val", [im])


def test_ultralytics_and_coco_disagree_where_documented():
    """Interpolation: one perfect and one missed box. COCO averages the 101 sampled precisions (51 of them are 1);
    Ultralytics integrates them with the trapezoid rule (1 up to recall 0.5, falling to 0 over the next step)."""
    from grace_edge.evaluate.coco import compute_metrics
    from grace_edge.evaluate.ultralytics_protocol import ultralytics_metrics

    split = _split([[10, 10, 60, 60], [100, 100, 150, 150]], [0, 0])
    preds = {"a.jpg": np.array([[10, 10, 60, 60, 0.9, 0]], float)}
    ul, coco = ultralytics_metrics(preds, split), compute_metrics(split, preds)
    assert coco.map50 == pytest.approx(51 / 101)  # recall 0..0.5 sampled at 51 points, precision 1
    assert ul.map50 == pytest.approx(0.5 - 0.01 / 2)
    assert (ul.precision, ul.recall) == (1.0, 0.5)
    assert ul.per_class["y"] is None and ul.per_class["x"] == pytest.approx(ul.map50_95)


def test_summary_prints_points_like_every_other_map() -> None:
    from grace_edge.evaluate.ultralytics_protocol import UltralyticsResult

    r = UltralyticsResult(map50_95=0.102, map50=0.3, precision=0.422, recall=0.355, f1=0.385,
                          per_class={"a": 0.016, "b": None}, per_class_ap50={"a": 0.1, "b": None}, images=2)
    lines = r.table().splitlines()
    assert lines[1].startswith("  mAP50-95 10.20  mAP50 30.00  P 42.20  R 35.50  (points")
    assert lines[2] == "  AP50-95 per class: a 1.60, b -"
