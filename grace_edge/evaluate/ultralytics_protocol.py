"""The Ultralytics validation protocol: what ``model.val()`` computes, so our numbers can sit next to the paper's.

``grace-edge val`` reports COCO metrics (ours, :mod:`grace_edge.evaluate.coco`). Papers built on Ultralytics,
GRACE's Table 2 most likely among them, print what ``model.val()`` prints. The two differ on the same weights:

- **canvas**: Ultralytics validates rectangular batches, each image letterboxed into a canvas of
  ``ceil(imgsz / stride + 0.5) * stride`` pixels (160 for a 128-px model: the 200x200 NEU-DET image becomes
  128x128 inside 160x160); ``grace-edge val`` (like ``model.predict``) feeds the image at ``imgsz`` with no
  extra padding;
- **boxes in the padding**: its predictions are matched in canvas pixels, not clipped to the image, so a box that
  runs into the padding loses IoU against a ground-truth box at the image edge (NEU-DET has many);
- **NMS**: multi-label (a box may be kept once per class scoring above ``conf``), ours keeps one class per box;
- **matching and AP**: greedy per IoU threshold in confidence order over all predictions
  (``match_predictions``), AP as the trapezoid integral of the precision envelope sampled at 101 recall points
  (``compute_ap``); COCO matches per image and class, keeps the top 100 per image, and averages the 101 sampled
  precisions; P and R are Ultralytics' at the confidence of maximum mean F1 (not at a fixed threshold).

:func:`ultralytics_metrics` applies Ultralytics' own ``match_predictions`` and ``DetMetrics`` (``ap_per_class``)
to predictions in original image pixels (IoU does not change under the letterbox's scale and shift; boxes are
not clipped). :func:`predict_ultralytics` runs Ultralytics' own ``DetectionValidator`` on a .pt and captures its
predictions, unclipped, in original pixels. Together they give exactly the numbers ``model.val()`` prints (a test
checks it). For an exported .onnx / .engine only the metric part applies: its canvas and NMS are the artifact's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from grace_edge.evaluate.groundtruth import DatasetSplit

PROTOCOL = "ultralytics"
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


@dataclass
class UltralyticsResult:
    """``model.val()``'s numbers: mAP50-95, mAP50, and P / R (and their F1) at the confidence of max mean F1."""

    map50_95: float
    map50: float
    precision: float
    recall: float
    f1: float
    per_class: dict[str, float | None]  # AP50-95; None for a class without ground truth
    per_class_ap50: dict[str, float | None]
    images: int
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """Summary lines, labelled so they are not mistaken for the COCO numbers; in points (0-100), like every
        mAP grace-edge prints (the JSON keeps 0-1)."""
        f = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
        how = self.settings.get("note") or "padded canvas, multi-label NMS, Ultralytics matching and AP"
        return "\n".join([
            f"Ultralytics protocol (what model.val() prints; {how}):",
            f"  mAP50-95 {f(self.map50_95)}  mAP50 {f(self.map50)}  P {f(self.precision)}  R {f(self.recall)}"
            "  (points; P, R at the confidence of max mean F1)",
            "  AP50-95 per class: " + ", ".join(f"{n} {f(v)}" for n, v in self.per_class.items()),
        ])

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL, "map50_95": self.map50_95, "map50": self.map50, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "per_class": dict(self.per_class),
                "per_class_ap50": dict(self.per_class_ap50), "images": self.images, "settings": dict(self.settings)}


def _match(pred_cls, gt_cls, iou):
    """Ultralytics' greedy matching (``BaseValidator.match_predictions``), called as Ultralytics calls it."""
    import torch
    from ultralytics.engine.validator import BaseValidator

    # match_predictions reads only ``iouv`` from the validator; a full validator would create a run folder
    return BaseValidator.match_predictions(SimpleNamespace(iouv=torch.tensor(IOU_THRESHOLDS, dtype=torch.float32)), pred_cls, gt_cls, iou)


def ultralytics_metrics(
    preds: Mapping[str, np.ndarray], split: DatasetSplit, settings: dict[str, Any] | None = None
) -> UltralyticsResult:
    """Ultralytics' metrics of checked predictions (image name -> [n, 6] x1,y1,x2,y2,score,class, original pixels)."""
    import torch
    from ultralytics.utils.metrics import DetMetrics, box_iou

    from grace_edge.ultralytics_setup import configure

    configure()
    names = list(split.names)
    metrics = DetMetrics(names=dict(enumerate(names)))
    for im in split.images:
        det = np.asarray(preds[im.name], dtype=np.float32).reshape(-1, 6)
        det = det[np.argsort(-det[:, 4], kind="stable")]  # match_predictions expects descending confidence
        gt_cls = im.classes.astype(np.float32)
        if len(det) and len(gt_cls):
            iou = box_iou(torch.from_numpy(im.boxes.astype(np.float32)), torch.from_numpy(det[:, :4].copy()))
            tp = _match(torch.from_numpy(det[:, 5].copy()), torch.from_numpy(gt_cls), iou).numpy()
        else:
            tp = np.zeros((len(det), len(IOU_THRESHOLDS)), dtype=bool)
        metrics.update_stats({"tp": tp, "conf": det[:, 4], "pred_cls": det[:, 5], "target_cls": gt_cls,
                              "target_img": np.unique(gt_cls), "im_name": im.name})
    metrics.process()
    p, r, map50, map50_95 = (float(x) for x in metrics.mean_results())
    per_class: dict[str, float | None] = dict.fromkeys(names)
    per_class50: dict[str, float | None] = dict.fromkeys(names)
    for i, c in enumerate(metrics.ap_class_index):
        per_class[names[int(c)]] = float(metrics.box.all_ap[i].mean())
        per_class50[names[int(c)]] = float(metrics.box.all_ap[i, 0])
    return UltralyticsResult(map50_95, map50, p, r, 2 * p * r / (p + r) if p + r else 0.0, per_class, per_class50,
                             len(split.images), dict(settings or {}))


def _capturing_validator(store: dict[str, np.ndarray]):
    """Ultralytics' ``DetectionValidator`` that also puts every image's predictions into ``store``, in original
    pixels and unclipped (what the validator matched)."""
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils import ops

    class CapturingValidator(DetectionValidator):
        def update_metrics(self, preds, batch):
            super().update_metrics(preds, batch)
            for si, pred in enumerate(preds):
                # Ultralytics clips xyxy boxes when rescaling, not xywh ones: rescale as xywh to keep them unclipped
                xywh = ops.scale_boxes(batch["img"].shape[2:], ops.xyxy2xywh(pred["bboxes"].clone().float()),
                                       batch["ori_shape"][si], batch["ratio_pad"][si], xywh=True)
                rows = [ops.xywh2xyxy(xywh), pred["conf"][:, None].float(), pred["cls"][:, None].float()]
                store[Path(batch["im_file"][si]).name] = np.concatenate([t.cpu().numpy() for t in rows], 1)

    return CapturingValidator


def predict_ultralytics(
    weights: Path, split: DatasetSplit, *, imgsz: int, batch: int, device: str, conf: float = 0.001,
    iou: float = 0.7, max_det: int = 300,
) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, float]]:
    """Run ``model.val()`` (its dataset, rect canvas, multi-label NMS) on a .pt over the images of ``split``.

    Returns its predictions in original pixels (unclipped), settings, and the ``results_dict`` Ultralytics itself
    computed (for cross-checking)."""
    import tempfile

    import yaml

    from grace_edge.model.weights import load_yolo

    model = load_yolo(weights)
    store: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="grace_ulval_") as tmp:
        # the split's images exactly (also a --max-images subset), listed for Ultralytics' dataset
        listing = Path(tmp) / "images.txt"
        listing.write_text("".join(f"{im.path}\n" for im in split.images), encoding="utf-8")
        data = Path(tmp) / "data.yaml"
        data.write_text(yaml.safe_dump({"path": tmp, "train": str(listing), "val": str(listing),
                                        "names": dict(enumerate(split.names))}), encoding="utf-8")
        metrics = model.val(validator=_capturing_validator(store), data=str(data), split="val", imgsz=imgsz,
                            batch=batch, device=device, conf=conf, iou=iou, max_det=max_det, plots=False,
                            save_json=False, verbose=False, project=tmp, name="val")
    info = {"backend": "ultralytics model.val()", "imgsz": imgsz, "conf": conf, "iou": iou, "max_det": max_det,
            "rect": True, "multi_label": True}
    return store, info, {k: float(v) for k, v in metrics.results_dict.items()}


def evaluate_ultralytics(
    weights: str | Path, data: str | Path, *, imgsz: int, batch: int = 16, device: str = "cpu", split: str = "val",
    conf: float = 0.001, iou: float = 0.7, max_det: int = 300, max_images: int | None = None,
    runtime: Any = None,
) -> UltralyticsResult:
    """The Ultralytics protocol on ``weights``: a .pt through ``model.val()``'s own pipeline, an .onnx / .engine
    through our runtime (its canvas and NMS); both scored with Ultralytics' matching and AP."""
    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.evaluate.predict import check_predictions, check_weights, predict_artifact

    path = check_weights(weights)
    ds = read_split(data, split, max_images)
    if path.suffix.lower() == ".pt":
        preds, info, _ = predict_ultralytics(path, ds, imgsz=imgsz, batch=batch, device=device, conf=conf, iou=iou, max_det=max_det)
    else:
        preds, info = predict_artifact(path, ds, batch=batch, conf=conf, runtime=runtime)
        info["note"] = "Ultralytics' metric on the artifact's own predictions (its canvas and NMS, not model.val()'s)"
    return ultralytics_metrics(check_predictions(preds, ds), ds, {"weights": str(path), "data": str(data), "split": split, **info})
