"""The ONNX Runtime backend on real exports of GRACE-n equals the PyTorch model + Ultralytics' own pre/postprocessing.

The model is untrained but seeded and re-initialised so that it is not degenerate: Kaiming-normal convolutions (the
default init fades the signal to ~0 over 50 layers, which gives every anchor the same score and box), small box
regression weights (boxes of a few strides around each anchor, so NMS has real overlaps to resolve) and class weights
scaled so scores spread over 0.02-0.99. Such a random net amplifies tiny input differences, which is why:

- the float32_nchw export gets the host letterbox, which is bit-identical to Ultralytics' LetterBox
  (tests/test_host_input.py), and is compared with the model + Ultralytics NMS + scale_boxes;
- the raw uint8 export is fed images already at the network size, so its in-graph preprocessing is only a cast and
  /255, and is compared with the float export on the same pixels.

Tolerance: rows are matched one to one (same class, |score diff| < 1e-4, every box edge within 0.05 px of 200 px).
FP32 ONNX Runtime and PyTorch CPU kernels differ by ~1e-6 relative; after this chaotic net the largest differences
seen are ~1e-5 in score and ~1e-3 px, so the bounds leave 10x headroom while a wrong letterbox offset, scale,
channel order, count slice or class id (all >= 0.3 px or a whole class) fails. Row order may differ only between
near-tied scores, hence matching instead of row-by-row comparison. Only rows above the export's top-K candidate
score and above the max_det cut are compared: below them the graph's documented top-K step may differ from full NMS.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from grace_edge.runtime import Detector
from tests.helpers.models import IMAGES, SCORE_TOL, seeded_model, unmatched

pytestmark = pytest.mark.data
IMGSZ = 96


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, Path]:
    from grace_edge.export.onnx_export import export_onnx

    out = tmp_path_factory.mktemp("exports")
    model = seeded_model()
    # nms_iters=64: enough Cluster-NMS rounds to reach greedy NMS's fixed point on this random net, whose boxes form
    # long suppression chains (with the default 8 rounds, 5 of 100 rows on crazing_1 are kept that greedy removes).
    common = dict(imgsz=IMGSZ, batch=1, dynamic_batch=True, simplify=False, nms_iters=64)
    float_onnx = export_onnx(model, out / "float.onnx", raw_input=None, **common)
    raw_onnx = export_onnx(model, out / "raw.onnx", raw_input=(IMGSZ, IMGSZ, 1), **common)
    return model, float_onnx, raw_onnx


def neu_images(root: Path) -> list[np.ndarray]:
    return [cv2.imread(str(root / "IMAGES" / f"{name}.jpg")) for name in IMAGES]


def reference_predictions(model, image: np.ndarray, max_det: int) -> tuple[np.ndarray, float]:
    """Ultralytics' predictor steps: LetterBox(auto=False), RGB /255, model, multi-label NMS, scale_boxes.

    Also returns the score of the export's last top-K candidate: below it the graph (which keeps only its top-K
    (anchor, class) pairs, see grace_edge.export.postprocess) and full NMS may legitimately differ."""
    import torch
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.nms import non_max_suppression
    from ultralytics.utils.ops import scale_boxes

    from grace_edge.export.topk import DEFAULT_TOPK

    boxed = LetterBox(new_shape=(IMGSZ, IMGSZ), auto=False)(image=image)
    x = torch.from_numpy(np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1))).float()[None] / 255
    with torch.no_grad():
        pred = model(x)
    pred = pred[0] if isinstance(pred, (list, tuple)) else pred
    scores = np.sort(pred[0, 4:].flatten().numpy())[::-1]
    topk_floor = float(scores[DEFAULT_TOPK - 1]) if len(scores) > DEFAULT_TOPK else 0.0
    rows = non_max_suppression(pred, 0.001, 0.7, multi_label=True, max_det=max_det)[0].numpy()
    rows[:, :4] = scale_boxes((IMGSZ, IMGSZ), rows[:, :4], image.shape[:2])
    return rows, topk_floor


def test_float_export_equals_pytorch_and_ultralytics(exports, neu_det: Path) -> None:
    model, float_onnx, _ = exports
    images = neu_images(neu_det)
    with Detector.open(float_onnx, conf=0.001) as det:
        ours = det.detect_arrays(images)  # one batch, original 200x200 BGR images
    for name, image, rows in zip(IMAGES, images, ours):
        reference, floor = reference_predictions(model, image, det.meta.max_det)
        assert len(np.unique(reference[:, 4])) > 10 and np.ptp(reference[:, 4]) > 0.05, f"{name}: degenerate reference"
        if len(reference) == det.meta.max_det:  # near-ties at the max_det cut may swap a row in or out
            floor = max(floor, float(reference[:, 4].min()))
        reference, rows = (r[r[:, 4] > floor + SCORE_TOL] for r in (reference, rows))
        assert len(reference) > 10 and len(rows) == len(reference), name
        assert not unmatched(reference, rows), f"{name}: rows differ from the reference"


def test_raw_uint8_export_equals_float_export(exports, neu_det: Path) -> None:
    _, float_onnx, raw_onnx = exports
    gray = [cv2.resize(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), (IMGSZ, IMGSZ)) for im in neu_images(neu_det)]
    with Detector.open(raw_onnx, conf=0.05) as raw, Detector.open(float_onnx, conf=0.05) as flt:
        assert raw.meta.input_format == "uint8_nhwc" and raw.meta.input_shape == (IMGSZ, IMGSZ, 1)
        raw_rows = raw.detect_arrays(gray)
        float_rows = flt.detect_arrays(gray)  # the gray plane is repeated to 3 channels on the host
    for name, a, b in zip(IMAGES, raw_rows, float_rows):
        assert len(a) > 0 and len(a) == len(b), name
        assert not unmatched(b, a), f"{name}: raw-input and float exports disagree"
