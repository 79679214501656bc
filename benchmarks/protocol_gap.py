"""Why ``grace-edge val`` (COCO) and Ultralytics' ``model.val()`` give different numbers for the same weights:
the gap taken apart step by step, on one checkpoint and one split.

Two prediction sets: ours (``model.predict`` at ``imgsz``, one class per box, boxes clipped to the image) and
Ultralytics' validator's (rect batches on a padded canvas, multi-label NMS, boxes not clipped). Scored with COCO
(``grace_edge.evaluate.coco``) and with Ultralytics' matching and AP (``grace_edge.evaluate.ultralytics_protocol``),
plus two controlled changes of Ultralytics' predictions: clipped to the image, and one (top) class per box.
Results: ``benchmarks/results/protocol_gap.{json,md}``.

    python benchmarks/protocol_gap.py --weights runs/train/grace-n/weights/best.pt --data datasets/neu-det/data.yaml
"""

from __future__ import annotations

from _results import publish  # benchmarks/_results.py

import argparse
import sys

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--imgsz", type=int, default=None, help="default: the checkpoint's training size")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-images", type=int, default=None)
    return p.parse_args()


def clip(preds: dict, split) -> dict:
    size = {im.name: (im.width, im.height) for im in split.images}
    out = {}
    for k, p in preds.items():
        q = p.copy()
        w, h = size[k]
        q[:, [0, 2]] = q[:, [0, 2]].clip(0, w)
        q[:, [1, 3]] = q[:, [1, 3]].clip(0, h)
        out[k] = q
    return out


def top_class(preds: dict) -> dict:
    """Multi-label NMS keeps a box once per class above the floor; keep only its best-scoring class."""
    out = {}
    for k, p in preds.items():
        order = np.argsort(-p[:, 4], kind="stable")
        _, first = np.unique(np.round(p[order, :4], 3), axis=0, return_index=True)
        out[k] = p[order[np.sort(first)]]
    return out


def main() -> None:
    a = parse_args()
    from pathlib import Path

    from grace_edge.evaluate.coco import compute_metrics
    from grace_edge.evaluate.evaluate import default_imgsz
    from grace_edge.evaluate.groundtruth import read_split
    from grace_edge.evaluate.predict import check_predictions, predict_pt
    from grace_edge.evaluate.ultralytics_protocol import predict_ultralytics, ultralytics_metrics

    imgsz = a.imgsz or default_imgsz(a.weights)
    split = read_split(a.data, a.split, a.max_images)
    ours, _ = predict_pt(Path(a.weights), split, imgsz=imgsz, batch=a.batch, device="cpu", conf=0.001, iou=0.7, max_det=300)
    theirs, _, printed = predict_ultralytics(Path(a.weights), split, imgsz=imgsz, batch=a.batch, device="cpu")
    ours, theirs = check_predictions(ours, split), check_predictions(theirs, split)
    sets = {
        "ours (predict: no extra padding, one class per box, clipped)": ours,
        "Ultralytics val predictions (padded canvas, multi-label, unclipped)": theirs,
        "  ... clipped to the image": clip(theirs, split),
        "  ... one class per box": top_class(theirs),
        "  ... one class per box, then clipped": clip(top_class(theirs), split),
    }
    rows = []
    for name, preds in sets.items():
        coco, ul = compute_metrics(split, preds), ultralytics_metrics(preds, split)
        outside = sum(int(((p[:, 0] < -0.5) | (p[:, 1] < -0.5) | (p[:, 2] > im.width + 0.5) | (p[:, 3] > im.height + 0.5)).sum())
                      for im in split.images for p in [preds[im.name]])
        rows.append({"predictions": name, "boxes": int(sum(len(p) for p in preds.values())), "boxes_outside_image": outside,
                     "coco": {"map50_95": coco.map50_95, "map50": coco.map50}, "ultralytics": {"map50_95": ul.map50_95, "map50": ul.map50}})
    edge = sum(int(((im.boxes[:, :2] <= 2) | (im.boxes[:, 2:] >= [im.width - 2, im.height - 2])).any(1).sum()) for im in split.images)
    report = {"benchmark": "protocol_gap", "command": "python benchmarks/protocol_gap.py " + " ".join(sys.argv[1:]),
              "weights": a.weights, "imgsz": imgsz, "split": a.split, "images": len(split.images), "gt_boxes": split.num_instances,
              "gt_boxes_within_2px_of_edge": edge, "model_val_printed": printed, "rows": rows}
    publish("protocol_gap", report, markdown(report), echo_json=True)


def markdown(r: dict) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f}"  # noqa: E731
    lines = [f"# COCO (grace-edge val) vs Ultralytics (model.val()) on the same weights, {r['imgsz']} px", "",
             f"Command: `{r['command']}`", "",
             f"{r['images']} images, {r['gt_boxes']} ground-truth boxes ({r['gt_boxes_within_2px_of_edge']} within 2 px of an image edge). "
             f"model.val() itself printed mAP50-95 {pct(r['model_val_printed']['metrics/mAP50-95(B)'])}, "
             f"mAP50 {pct(r['model_val_printed']['metrics/mAP50(B)'])}.", "",
             "| predictions | boxes | outside image | COCO mAP50-95 | COCO mAP50 | Ultralytics mAP50-95 | Ultralytics mAP50 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['predictions']} | {x['boxes']:,} | {x['boxes_outside_image']:,} | {pct(x['coco']['map50_95'])} | "
                     f"{pct(x['coco']['map50'])} | {pct(x['ultralytics']['map50_95'])} | {pct(x['ultralytics']['map50'])} |")
    lines += ["", "Row 1, COCO columns = `grace-edge val`; row 2, Ultralytics columns = `model.val()` (the paper's most likely protocol)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
