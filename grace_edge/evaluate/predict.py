"""Predictions for every image of a split: from a .pt through Ultralytics' own predictor, or from an exported
.onnx / .engine through :class:`grace_edge.runtime.Detector`; and the checks any prediction set must pass.

A prediction array is float [n, 6]: x1, y1, x2, y2, score, class, in original image pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.artifact import match_classes
from grace_edge.data.images import read_image
from grace_edge.errors import InputError
from grace_edge.evaluate.groundtruth import DatasetSplit

WEIGHT_SUFFIXES = (".pt", ".onnx", ".engine")


def check_weights(weights: Any) -> Any:
    """The weights path, if it exists and has a suffix we can evaluate; an in-memory
    :class:`~grace_edge.artifact.OnnxModel` (the build's gate) as it is."""
    from grace_edge.artifact import OnnxModel

    if isinstance(weights, OnnxModel):
        return weights
    path = Path(weights)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise InputError(f"{path}: unknown weights type {path.suffix!r}; expected one of {', '.join(WEIGHT_SUFFIXES)}")
    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    return path


def predict_pt(
    weights: Path, split: DatasetSplit, *, imgsz: int, batch: int, device: str, conf: float, iou: float, max_det: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run Ultralytics' predictor (letterbox, NMS at ``conf``/``iou``/``max_det``) on every image of ``split``."""
    from grace_edge.model.weights import load_yolo

    model = load_yolo(weights)
    info: dict[str, Any] = {"backend": "ultralytics", "imgsz": imgsz, "conf": conf, "iou": iou, "max_det": max_det,
                            "warnings": match_classes([model.names[i] for i in sorted(model.names)], split.names, weights)}
    from grace_edge.progress import Progress

    preds: dict[str, np.ndarray] = {}
    progress = Progress(f"val {weights.name}", len(split.images))
    for start in range(0, len(split.images), batch):
        chunk = split.images[start : start + batch]
        results = model.predict(
            [read_image(im.path) for im in chunk], imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
            device=device, batch=len(chunk), verbose=False, save=False,
        )
        for im, r in zip(chunk, results, strict=True):
            b = r.boxes
            preds[im.name] = np.concatenate(
                [b.xyxy.cpu().numpy(), b.conf.cpu().numpy()[:, None], b.cls.cpu().numpy()[:, None]], axis=1
            ).astype(np.float32)
        progress.update(len(chunk))
    return preds, info


def predict_artifact(
    weights: Any, split: DatasetSplit, *, batch: int, conf: float, runtime: Any = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run an exported .onnx / .engine (or an in-memory OnnxModel) through the production runtime, with ``conf``
    applied on the host (``runtime``: its :class:`~grace_edge.runtime.options.RuntimeOptions`)."""
    from grace_edge.runtime import Detector
    from grace_edge.runtime.options import RuntimeOptions

    preds: dict[str, np.ndarray] = {}
    options = RuntimeOptions.of(runtime)
    with Detector.open(weights, conf=conf, options=options) as det:
        meta = det.meta
        info: dict[str, Any] = {
            "backend": det.backend, "inference_precision": options.inference_precision,
            "imgsz": list(meta.imgsz), "conf": conf, "iou": meta.iou_thres,
            "max_det": meta.max_det, "precision": meta.precision, "in_graph_conf": meta.conf_thres,
            "warnings": match_classes(list(det.names), split.names, weights),
        }
        if conf < meta.conf_thres:
            info["warnings"].append(f"conf {conf:g} is below the artifact's in-graph score floor {meta.conf_thres:g}: "
                                    "mAP misses the detections under it")
        from grace_edge.progress import Progress

        progress = Progress(f"val {weights.name}", len(split.images))
        for start in range(0, len(split.images), batch):  # the Detector splits further to the artifact's max batch
            chunk = split.images[start : start + batch]
            arrays = det.detect_arrays([read_image(im.path) for im in chunk])
            for im, arr in zip(chunk, arrays, strict=True):
                preds[im.name] = np.asarray(arr, dtype=np.float32)
            progress.update(len(chunk))
    return preds, info


def check_predictions(preds: Mapping[str, Any], split: DatasetSplit) -> dict[str, np.ndarray]:
    """Every image of ``split`` must have an [n, 6] array (n may be 0) and no other image may; values are checked."""
    names = {im.name for im in split.images}
    missing = sorted(names - preds.keys())
    extra = sorted(set(preds) - names)
    if missing:
        raise InputError(f"predictions: no entry for {len(missing)} image(s) of split {split.split!r}, e.g. "
                         f"{missing[:3]} (an image without detections needs an empty [0, 6] array)")
    if extra:
        raise InputError(f"predictions: {len(extra)} image(s) not in split {split.split!r}, e.g. {extra[:3]}")
    nc = len(split.names)
    checked = {}
    for name in sorted(names):
        arr = np.asarray(preds[name], dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 6)
        if arr.ndim != 2 or arr.shape[1] != 6:
            raise InputError(f"predictions[{name!r}]: expected shape [n, 6] (x1,y1,x2,y2,score,class), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise InputError(f"predictions[{name!r}]: contains NaN or infinity")
        cls = arr[:, 5]
        if ((cls != np.round(cls)) | (cls < 0) | (cls >= nc)).any():
            raise InputError(f"predictions[{name!r}]: class values must be integers 0..{nc - 1}")
        if ((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])).any():
            raise InputError(f"predictions[{name!r}]: a box has x2 < x1 or y2 < y1")
        checked[name] = arr
    return checked
