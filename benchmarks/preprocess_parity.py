"""In-graph preprocessing (raw uint8 camera pixels) vs Ultralytics' letterbox on the host: mAP in one run.

Same weights, same imgsz, same in-graph NMS; only where and how the image is letterboxed differs:
- ``raw uint8 graph``: the ``--raw-input HxWxC`` export gets the decoded image as it is (gray for C=1) and returns
  boxes in image pixels;
- ``float graph + Ultralytics letterbox``: the ``--float-input`` export gets Ultralytics' ``LetterBox`` output
  (cv2 resize, BGR -> RGB, /255) and its boxes go back with Ultralytics' ``scale_boxes``;
- ``Ultralytics predictor (.pt)``: the checkpoint through Ultralytics' own predictor and NMS (reference, not parity).
Both graphs run in ONNX Runtime on the CPU; mAP from ``grace_edge.evaluate``. Also reported: the largest difference
between the two network inputs (in gray levels). Results: ``benchmarks/results/preprocess_parity.{json,md}``.

    nice -n 10 python benchmarks/preprocess_parity.py \
        --weights benchmarks/runs/reduced/grace-n/weights/best.pt --data benchmarks/runs/reduced/dataset/data.yaml
"""

from __future__ import annotations

from _results import fmt, publish  # benchmarks/_results.py

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.data.classes import NEU_DET_IMAGE_TEXT

REPO = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="trained checkpoint (.pt)")
    p.add_argument("--data", required=True, help="data YAML; its val split is evaluated")
    p.add_argument("--imgsz", type=int, help="network input size (default: the checkpoint's training imgsz, else 640)")
    p.add_argument("--raw-input", default=NEU_DET_IMAGE_TEXT, help="camera image size and channels (default %(default)s)")
    p.add_argument("--max-images", type=int, help="evaluate this many val images spread over the split (default all)")
    p.add_argument("--conf", type=float, default=0.001, help="score floor (default 0.001)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    p.add_argument("--max-det", type=int, default=100, help="detections per image (default 100)")
    p.add_argument("--tag", default="preprocess_parity", help="results file stem (default preprocess_parity)")
    return p.parse_args()


def read_camera_image(path: Path, channels: int) -> np.ndarray:
    """The image as the camera would hand it over: gray HxW for one channel, BGR HxWx3 for three."""
    import cv2

    from grace_edge.errors import InputError
    from grace_edge.data.images import read_image

    bgr = read_image(path)
    if channels == 3:
        return bgr
    if not (np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 0], bgr[..., 2])):
        raise InputError(f"{path}: --raw-input asks for 1 channel but the image is not gray")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def main() -> None:
    a = parse_args()
    import onnxruntime as ort
    import torch
    from ultralytics.utils.ops import scale_boxes

    from grace_edge.evaluate import evaluate, evaluate_predictions
    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.export.onnx_export import export_onnx, parse_raw_input
    from grace_edge.export.preprocess import Letterbox, RawPreprocess, letterbox_reference
    from grace_edge.model.weights import load_model

    raw = parse_raw_input(a.raw_input)
    imgsz = a.imgsz or int((getattr(load_model(a.weights), "args", None) or {}).get("imgsz") or 640)
    split = read_split(a.data, "val", a.max_images)
    prep = RawPreprocess(Letterbox.plan(raw[:2], (imgsz, imgsz)), raw[2])
    options = dict(imgsz=imgsz, max_det=a.max_det, conf_thres=a.conf, iou_thres=a.iou)
    raw_preds, float_preds, input_diff = {}, {}, 0.0
    seconds = {"raw": 0.0, "float": 0.0}
    with tempfile.TemporaryDirectory(prefix="preprocess-parity-") as tmp:
        raw_graph = export_onnx(a.weights, Path(tmp) / "raw.onnx", raw_input=raw, **options)
        float_graph = export_onnx(a.weights, Path(tmp) / "float.onnx", raw_input=None, **options)
        raw_session = ort.InferenceSession(str(raw_graph), providers=["CPUExecutionProvider"])
        float_session = ort.InferenceSession(str(float_graph), providers=["CPUExecutionProvider"])
        for im in split.images:
            image = read_camera_image(im.path, raw[2])
            if image.shape[:2] != raw[:2]:
                raise SystemExit(f"{im.path}: {image.shape[:2]} is not the --raw-input size {raw[:2]}")
            t0 = time.perf_counter()
            rows, count = raw_session.run(None, {"images": image.reshape(1, *raw)})
            seconds["raw"] += time.perf_counter() - t0
            raw_preds[im.name] = rows[0, : int(count[0])]

            t0 = time.perf_counter()
            x = letterbox_reference(image, imgsz)
            rows, count = float_session.run(None, {"images": x})
            host = rows[0, : int(count[0])].copy()
            host[:, :4] = scale_boxes((imgsz, imgsz), torch.from_numpy(host[:, :4]), image.shape[:2]).numpy()
            seconds["float"] += time.perf_counter() - t0
            float_preds[im.name] = host
            with torch.no_grad():  # the graph's own preprocessing module, to compare the network inputs
                in_graph = prep(torch.from_numpy(image.reshape(1, *raw))).numpy()
            input_diff = max(input_diff, float(np.abs(in_graph - x).max()) * 255)

    n = len(split.images)
    rows_out: list[dict[str, Any]] = []
    for variant, preds, key in (("raw uint8 graph (in-graph letterbox)", raw_preds, "raw"),
                                ("float graph + Ultralytics letterbox", float_preds, "float")):
        m = evaluate_predictions(preds, split).to_dict()
        rows_out.append({"variant": variant, "map50_95": m["map50_95"], "map50": m["map50"],
                         "ms_per_image": 1000 * seconds[key] / n})
    m = evaluate(a.weights, a.data, imgsz=imgsz, conf=a.conf, iou=a.iou, max_det=a.max_det,
                 max_images=a.max_images).to_dict()
    rows_out.append({"variant": "Ultralytics predictor (.pt), reference", "map50_95": m["map50_95"],
                     "map50": m["map50"], "ms_per_image": None})
    base = rows_out[1]["map50_95"]
    for r in rows_out:
        r["delta_vs_letterbox_pts"] = round((r["map50_95"] - base) * 100, 3)
    report = {
        "benchmark": "preprocess_parity",
        "settings": {"weights": a.weights, "data": a.data, "split": "val", "images": n, "imgsz": imgsz,
                     "raw_input": list(raw), "conf": a.conf, "iou": a.iou, "max_det": a.max_det,
                     "backend": "onnxruntime CPU"},
        "machine": {"platform": platform.platform(), "cpu_count": __import__("os").cpu_count()},
        "max_input_difference_gray_levels": round(input_diff, 3),
        "rows": rows_out,
    }
    write(report, a.tag)


def write(report: dict[str, Any], tag: str) -> None:

    s = report["settings"]
    lines = [
        f"# In-graph preprocessing vs host letterbox: {Path(s['weights']).name}, imgsz {s['imgsz']}, "
        f"raw input {'x'.join(map(str, s['raw_input']))}",
        "",
        f"{s['images']} val images of `{s['data']}`; conf {s['conf']}, IoU {s['iou']}, max_det {s['max_det']}; "
        f"largest input difference {report['max_input_difference_gray_levels']} gray levels.",
        "",
        "| variant | mAP50-95 | mAP50 | delta vs host letterbox (pts) | ms/image (CPU, graph + host prep) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        ms = "-" if r["ms_per_image"] is None else f"{r['ms_per_image']:.1f}"
        lines.append(f"| {r['variant']} | {fmt(r['map50_95'])} | {fmt(r['map50'])} | "
                     f"{r['delta_vs_letterbox_pts']:+.3f} | {ms} |")
    publish(tag, report, lines)


if __name__ == "__main__":
    main()
