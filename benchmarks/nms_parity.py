"""In-graph Cluster-NMS vs torchvision greedy NMS: mAP on the same raw head outputs, in one run.

The fused model runs once per val image (Ultralytics letterbox on the host); its decoded head output
[1, 4 + nc, A] is then postprocessed by
- ``greedy``: torchvision ``batched_nms`` over every (anchor, class) pair above the score floor (what Ultralytics'
  validator does), top ``max_det`` kept;
- ``cluster K=.. iters=..``: the exported postprocess graph itself (top-K + Cluster-NMS, the ONNX that ships inside
  every artifact) through ONNX Runtime, for a sweep of K and round counts.
Same conf / IoU / max_det everywhere; boxes go back to image pixels with Ultralytics' ``scale_boxes``; mAP from
``grace_edge.evaluate.evaluate_predictions``. Also reported: the share of images whose kept set is exactly greedy's,
and how many Cluster-NMS rounds each image needs to reach greedy NMS's fixed point (which picks ``nms_iters``).
Results: ``benchmarks/results/nms_parity.{json,md}``.

    nice -n 10 python benchmarks/nms_parity.py \
        --weights benchmarks/runs/reduced/grace-n/weights/best.pt --data benchmarks/runs/reduced/dataset/data.yaml
"""

from __future__ import annotations

from _results import fmt, publish  # benchmarks/_results.py

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SWEEP = ("100x16", "300x8", "300x16", "300x32", "1000x16", "3840x16")  # 3840: TensorRT's TopK limit
MAX_ROUNDS = 64  # rounds-to-converge is counted up to this


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="trained checkpoint (.pt)")
    p.add_argument("--data", required=True, help="data YAML; its val split is evaluated")
    p.add_argument("--imgsz", type=int, help="network input size (default: the checkpoint's training imgsz, else 640)")
    p.add_argument("--max-images", type=int, help="evaluate this many val images spread over the split (default all)")
    p.add_argument("--conf", type=float, default=0.001, help="score floor for every variant (default 0.001)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold for every variant (default 0.7)")
    p.add_argument("--max-det", type=int, default=100, help="detections kept per image, every variant (default 100)")
    p.add_argument("--sweep", nargs="+", default=list(DEFAULT_SWEEP), metavar="KxITERS",
                   help=f"Cluster-NMS variants as topk x rounds (default: {' '.join(DEFAULT_SWEEP)})")
    p.add_argument("--tag", default="nms_parity", help="results file stem (default nms_parity)")
    return p.parse_args()


def head_outputs(weights: str, data: str, imgsz: int | None, max_images: int | None):
    """(split, imgsz, nc, {image name: (decoded head output [1, 4+nc, A] tensor, original (h, w))})."""
    import torch

    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.data.images import read_image
    from grace_edge.export.onnx_export import prepare_model
    from grace_edge.export.preprocess import letterbox_reference
    from grace_edge.model.weights import load_model

    model = load_model(weights)
    imgsz = imgsz or int((getattr(model, "args", None) or {}).get("imgsz") or 640)
    net = prepare_model(model)
    split = read_split(data, "val", max_images)
    outputs = {}
    with torch.no_grad():
        for im in split.images:
            image = read_image(im.path)
            outputs[im.name] = (net(torch.from_numpy(letterbox_reference(image, imgsz))), image.shape[:2])
    return split, imgsz, len(model.names), outputs


def to_image_pixels(rows: np.ndarray, imgsz: int, shape: tuple[int, int]) -> np.ndarray:
    import torch
    from ultralytics.utils.ops import scale_boxes

    rows = np.asarray(rows, dtype=np.float32).copy()
    rows[:, :4] = scale_boxes((imgsz, imgsz), torch.from_numpy(rows[:, :4]), shape).numpy()
    return rows


def greedy_variant(outputs, imgsz: int, conf: float, iou: float, max_det: int):
    from grace_edge.export.postprocess import greedy_nms_reference

    greedy_nms_reference(next(iter(outputs.values()))[0], conf, iou, max_det)  # warm-up: imports torchvision
    kept, preds, seconds = {}, {}, 0.0
    for name, (pred, shape) in outputs.items():
        t0 = time.perf_counter()
        rows = greedy_nms_reference(pred, conf, iou, max_det)[0].numpy()
        seconds += time.perf_counter() - t0
        kept[name] = rows
        preds[name] = to_image_pixels(rows, imgsz, shape)
    return kept, preds, seconds


def cluster_variant(outputs, imgsz: int, nc: int, conf: float, iou: float, max_det: int, topk: int, iters: int):
    import onnxruntime as ort
    import torch

    from grace_edge.export.onnx_export import to_onnx_model
    from grace_edge.export.postprocess import InGraphPostprocess

    post = InGraphPostprocess(nc, max_det, conf, iou, topk, iters, box_scale=float(imgsz)).eval()
    example = next(iter(outputs.values()))[0]
    graph = to_onnx_model(post, torch.zeros_like(example))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    kept, preds, seconds = {}, {}, 0.0
    for name, (pred, shape) in outputs.items():
        t0 = time.perf_counter()
        rows, count = session.run(None, {"images": pred.numpy()})
        seconds += time.perf_counter() - t0
        kept[name] = rows[0, : int(count[0])]
        preds[name] = to_image_pixels(kept[name], imgsz, shape)
    return kept, preds, seconds


def rounds_to_converge(outputs, nc: int, conf: float, iou: float, topk: int, imgsz: int) -> list[int]:
    """Per image: Cluster-NMS rounds over the top-K candidates until the kept set stops changing (greedy's)."""
    import torch

    from grace_edge.export.postprocess import InGraphPostprocess, cluster_nms_round, suppression_matrix

    post = InGraphPostprocess(nc, 1, conf, iou, topk, 1, box_scale=float(imgsz))
    rounds = []
    with torch.no_grad():
        for pred, _ in outputs.values():
            boxes, scores, classes, _ = post.candidates(pred)
            n = int((scores >= conf).sum())  # below the floor nothing is reported, so nothing there matters
            suppress = suppression_matrix(boxes[:, :n], classes[:, :n], iou, float(imgsz))  # candidates in rank order
            keep = torch.ones_like(scores[:, :n])
            for r in range(1, MAX_ROUNDS + 2):
                keep, previous = cluster_nms_round(suppress, keep), keep
                if torch.equal(keep, previous):  # round r changed nothing: r - 1 rounds reached the fixed point
                    break
            rounds.append(r - 1)
    return rounds


def same_as_greedy(kept: dict[str, np.ndarray], greedy: dict[str, np.ndarray]) -> float:
    same = sum(len(kept[k]) == len(g) and np.allclose(kept[k], g, atol=1e-3, rtol=1e-5) for k, g in greedy.items())
    return same / max(len(greedy), 1)


def main() -> None:
    a = parse_args()
    from grace_edge.evaluate import evaluate_predictions
    from grace_edge.ultralytics_setup import configure

    configure()
    t0 = time.perf_counter()
    split, imgsz, nc, outputs = head_outputs(a.weights, a.data, a.imgsz, a.max_images)
    print(f"head outputs for {len(outputs)} val images at imgsz {imgsz}: {time.perf_counter() - t0:.0f} s", flush=True)

    greedy_kept, greedy_preds, greedy_s = greedy_variant(outputs, imgsz, a.conf, a.iou, a.max_det)
    metrics = evaluate_predictions(greedy_preds, split).to_dict()
    rows: list[dict[str, Any]] = [{"variant": "greedy (torchvision batched_nms, all candidates)", "topk": None,
                                   "iters": None, "map50_95": metrics["map50_95"], "map50": metrics["map50"],
                                   "same_as_greedy": 1.0, "ms_per_image": 1000 * greedy_s / len(outputs)}]
    for spec in a.sweep:
        topk, iters = (int(v) for v in spec.lower().split("x"))
        kept, preds, seconds = cluster_variant(outputs, imgsz, nc, a.conf, a.iou, a.max_det, topk, iters)
        metrics = evaluate_predictions(preds, split).to_dict()
        rows.append({"variant": f"cluster K={topk} iters={iters}", "topk": topk, "iters": iters,
                     "map50_95": metrics["map50_95"], "map50": metrics["map50"],
                     "same_as_greedy": same_as_greedy(kept, greedy_kept), "ms_per_image": 1000 * seconds / len(outputs)})
        print(f"{rows[-1]['variant']}: mAP50-95 {fmt(rows[-1]['map50_95'])}", flush=True)
    base = rows[0]["map50_95"]
    for r in rows:
        r["delta_vs_greedy_pts"] = round((r["map50_95"] - base) * 100, 3)
    rounds = rounds_to_converge(outputs, nc, a.conf, a.iou, max(r["topk"] or 0 for r in rows) or 1000, imgsz)
    report = {
        "benchmark": "nms_parity",
        "settings": {"weights": a.weights, "data": a.data, "split": "val", "images": len(outputs), "imgsz": imgsz,
                     "conf": a.conf, "iou": a.iou, "max_det": a.max_det, "backend": "onnxruntime CPU (cluster), "
                     "torchvision (greedy)", "tolerance_pts": 0.1},
        "machine": {"platform": platform.platform(), "cpu_count": __import__("os").cpu_count()},
        "rows": rows,
        "rounds_to_converge": {"max": max(rounds), "p50": float(np.percentile(rounds, 50)),
                               "p99": float(np.percentile(rounds, 99)),
                               "histogram": {str(r): rounds.count(r) for r in sorted(set(rounds))}},
    }
    write(report, a.tag)


def write(report: dict[str, Any], tag: str) -> None:

    s, rc = report["settings"], report["rounds_to_converge"]
    lines = [
        f"# In-graph Cluster-NMS vs greedy NMS: {Path(s['weights']).name}, imgsz {s['imgsz']}",
        "",
        f"{s['images']} val images of `{s['data']}`, same head outputs for every row; conf {s['conf']}, "
        f"IoU {s['iou']}, max_det {s['max_det']}. Pass: |delta| <= {s['tolerance_pts']} pt.",
        "",
        "| variant | mAP50-95 | mAP50 | delta vs greedy (pts) | images identical to greedy | ms/image (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['variant']} | {fmt(r['map50_95'])} | {fmt(r['map50'])} | {r['delta_vs_greedy_pts']:+.3f} "
                     f"| {r['same_as_greedy'] * 100:.1f}% | {r['ms_per_image']:.2f} |")
    lines += ["", f"Cluster-NMS rounds to reach greedy's fixed point (candidates above conf, largest K): "
              f"p50 {rc['p50']:g}, p99 {rc['p99']:g}, max {rc['max']}; histogram {rc['histogram']}"]
    publish(tag, report, lines)


if __name__ == "__main__":
    main()
