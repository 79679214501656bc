"""``grace-edge val``: COCO metrics (ours) and the Ultralytics protocol of a trained or exported model on a split."""

from __future__ import annotations

import argparse

from grace_edge.cli_options import ARTIFACT_HELP, add_artifact, add_command, add_device, add_runtime_flags, runtime_options
from grace_edge.evaluate.operating_points import DEFAULT_RECALL


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "val",
        help="measure a model's accuracy (COCO mAP, AP by size, precision/recall/F1) on a dataset split",
        description=(
            "Run a model on every image of a dataset split and compare its boxes with the labels.\n"
            "Reports COCO mAP50-95 and mAP50 (all classes and per class), AP for small/medium/large boxes,\n"
            "and precision, recall and F1 at the confidence you would deploy with (--f1-conf).\n"
            "Also reports the Ultralytics protocol (what Ultralytics' model.val() prints, and most likely the\n"
            "GRACE paper's table): same weights, different canvas, NMS, matching and AP; see the README.\n"
            "Works on a training checkpoint (.pt) and on exported models (.onnx, .engine): evaluate the\n"
            "exported model before putting it on the line, to see what export and quantization cost.\n"
            "Writes metrics.json and a report into its run folder (--out): confusion matrix, PR and F1 curves,\n"
            "per-class operating points as thresholds.yaml (for predict --thresholds and the line), a failure\n"
            "gallery and one self-contained report.html. 'val A B C --data ...' compares artifacts on the same\n"
            "images (list them first, before the options)."
        ),
        func=run_val,
    )
    add_artifact(p, f"the model to evaluate: {ARTIFACT_HELP}", old="--weights")
    p.add_argument("--data", required=True, metavar="YAML",
                   help="dataset YAML in Ultralytics format (as written by 'grace-edge data')")
    p.add_argument("--split", default="val", metavar="NAME",
                   help="which split of the YAML to evaluate: train, val or test (default: val)")
    p.add_argument("--imgsz", type=int, default=None, metavar="PIXELS",
                   help=".pt only: network input size in pixels (default: the size the checkpoint was trained at); "
                        "exported models use the size they were exported with")
    p.add_argument("--batch", type=int, default=16, metavar="N", help="images per forward pass (default: 16)")
    add_device(p, "cpu", ".pt only: 'cpu', a GPU index such as 0, cuda:0 or 'auto' (default: cpu); "
                         "exported models run on their own backend")
    p.add_argument("--conf", type=float, default=0.001, metavar="SCORE",
                   help="lowest score kept for the mAP computation; keep it low so mAP sees the whole "
                        "precision-recall curve (default: 0.001)")
    p.add_argument("--f1-conf", type=float, default=0.25, metavar="SCORE",
                   help="deployment threshold at which precision, recall and F1 are reported (default: 0.25)")
    p.add_argument("--max-images", type=int, default=None, metavar="N",
                   help="evaluate only N images, spread evenly over the split, for a quick check (default: all)")
    p.add_argument("--protocol", default="both", choices=("both", "coco", "ultralytics"),
                   help="which numbers: COCO (ours), Ultralytics' model.val() protocol, or both (default: both; "
                        "the Ultralytics one runs the model a second time)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write all metrics to this JSON file (they are always in the run folder's metrics.json)")
    p.add_argument("more", nargs="*", metavar="ARTIFACT",
                   help="more artifacts to compare with the first on the same images (FP32 vs FP16 vs INT8, .pt vs "
                        ".engine, GRACE vs baseline), listed right after the first: per-class deltas and PR curves "
                        "overlaid in the report")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder for metrics.json and the report (default runs/val/<artifact>, or -2, -3, ... so "
                        "that an earlier run is kept)")
    p.add_argument("--recall", type=float, default=DEFAULT_RECALL, metavar="FRACTION",
                   help="recall target of the operating points written to thresholds.yaml: per class the highest "
                        f"confidence that still finds this fraction of the defects (default {DEFAULT_RECALL})")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="metrics only: no figures, thresholds.yaml, gallery or report.html")
    add_runtime_flags(p)


def run_val(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from grace_edge.cli_options import artifact_of
    from grace_edge.evaluate.val import ValOptions, run_val as run

    return run(ValOptions(
        artifacts=(artifact_of(args), *args.more), data=args.data, split=args.split, imgsz=args.imgsz,
        batch=args.batch, device=args.device, conf=args.conf, f1_conf=args.f1_conf, max_images=args.max_images,
        protocol=args.protocol, json=args.json, out=args.out, report=args.report, recall=args.recall,
        runtime=runtime_options(args), command=shlex.join(["grace-edge", *sys.argv[1:]]),
    ))
