"""``evaluate`` a .pt / .onnx / .engine on a dataset split, or ``evaluate_predictions`` for prediction arrays made
any other way (e.g. to compare two NMS implementations), with COCO metrics.

Heavy packages (torch, Ultralytics, faster-coco-eval) load only when a function runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from grace_edge.evaluate.coco import EvalResult
    from grace_edge.evaluate.groundtruth import DatasetSplit

__all__ = ["evaluate", "evaluate_predictions"]


def evaluate_predictions(
    preds: Mapping[str, np.ndarray],
    data: str | os.PathLike[str] | DatasetSplit,
    split: str = "val",
    *,
    f1_conf: float = 0.25,
    max_images: int | None = None,
    settings: dict[str, Any] | None = None,
) -> EvalResult:
    """Metrics of ``preds`` (image file name -> float [n, 6] x1,y1,x2,y2,score,class in original pixels).

    ``data`` is a data YAML (``split`` and ``max_images`` pick the images, see ``groundtruth.read_split``) or an
    already read :class:`DatasetSplit`. Every image of the split needs an entry; an image without detections
    needs an empty array. Nothing is dropped silently: a missing, extra or malformed entry is an InputError.
    """
    from grace_edge.evaluate.coco import compute_metrics
    from grace_edge.evaluate.groundtruth import DatasetSplit, read_split
    from grace_edge.evaluate.predict import check_predictions

    ds = data if isinstance(data, DatasetSplit) else read_split(data, split, max_images)
    return compute_metrics(ds, check_predictions(preds, ds), f1_conf, settings)


def evaluate(
    weights: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    imgsz: int | None = None,
    batch: int = 16,
    device: str = "cpu",
    split: str = "val",
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    f1_conf: float = 0.25,
    max_images: int | None = None,
    runtime: Any = None,
) -> EvalResult:
    """Evaluate ``weights`` on ``split`` of the YOLO dataset ``data``.

    A .pt runs through Ultralytics' predictor with ``imgsz`` (default: the size it was trained at), ``device``,
    ``conf``, ``iou``, ``max_det``.
    A .onnx / .engine runs through ``grace_edge.runtime.Detector`` with ``conf`` applied on the host; its input
    size, IoU threshold, max detections and device come from the artifact itself. ``max_images`` evaluates that
    many images spread evenly over the split (a quick check); images without a label file count as background.
    ``runtime``: the :class:`~grace_edge.runtime.options.RuntimeOptions` an artifact runs with. ``weights`` may also be
    an in-memory :class:`~grace_edge.artifact.OnnxModel` (what the build's accuracy gate hands on).
    """
    from grace_edge.devices import to_ultralytics
    from grace_edge.errors import InputError
    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.evaluate.predict import check_weights, predict_artifact, predict_pt

    path = check_weights(weights)
    if batch < 1 or (imgsz is not None and imgsz < 32) or max_det < 1 or not 0 <= conf <= 1 or not 0 <= f1_conf <= 1 or not 0 < iou <= 1:
        raise InputError(
            f"evaluate: need batch >= 1, imgsz >= 32, max_det >= 1, 0 <= conf, f1_conf <= 1, 0 < iou <= 1 "
            f"(got batch={batch}, imgsz={imgsz}, max_det={max_det}, conf={conf}, f1_conf={f1_conf}, iou={iou})"
        )
    is_pt = isinstance(path, Path) and path.suffix.lower() == ".pt"
    if imgsz is None:  # after the option checks: reading the checkpoint is slower and has its own errors
        imgsz = default_imgsz(path) if is_pt else 640
    ds = read_split(data, split, max_images)
    if is_pt and _runtime_changed(runtime):
        raise InputError(f"{path}: --backend/--inference-precision/--shared-cpu apply to exported models (.onnx), "
                         "not to a .pt checkpoint")
    if is_pt:
        preds, info = predict_pt(
            path, ds, imgsz=imgsz, batch=batch, device=to_ultralytics(device), conf=conf, iou=iou, max_det=max_det
        )
    else:
        preds, info = predict_artifact(path, ds, batch=batch, conf=conf, runtime=runtime)
    settings = {"weights": str(path), "data": str(data), "split": split, **info}
    return evaluate_predictions(preds, ds, f1_conf=f1_conf, settings=settings)


def _runtime_changed(runtime: Any) -> bool:
    from grace_edge.runtime.options import RuntimeOptions

    return bool(RuntimeOptions.of(runtime).changed())


def default_imgsz(weights: str | os.PathLike[str]) -> int:
    """A .pt's training image size (its ``train_args``); 640 for anything else (artifacts carry their own)."""
    from grace_edge.evaluate.predict import check_weights

    if check_weights(weights).suffix.lower() != ".pt":  # a missing or unknown file: the same one-line error as val's
        return 640
    from grace_edge.model.weights import training_imgsz

    return training_imgsz(weights)
