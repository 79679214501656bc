"""``grace-edge export``: trained weights -> one ONNX graph with in-graph preprocessing and NMS."""

from __future__ import annotations

import argparse

from grace_edge.cli_options import add_alias, add_command, add_topk
from grace_edge.data.classes import NEU_DET_IMAGE_TEXT
from grace_edge.model.build import MODEL_NAMES


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "export", help="export trained weights to an ONNX graph with preprocessing and NMS inside",
        description=(
            "Fuse the model (Lite-FEN re-parameterised, BatchNorm folded) and export it to ONNX with the box decode,\n"
            "top-K and Cluster-NMS inside the graph: outputs 'detections' [B, max_det, 6] (x1, y1, x2, y2, score,\n"
            "class) and 'num_detections' [B]. Standard ops and static shapes only, so TensorRT 10.3+ builds it\n"
            "('grace-edge build'). By default the graph also takes raw 200x200 gray camera pixels (uint8) and returns\n"
            "boxes in those pixels. Writes export/<model>-<imgsz>[-raw<H>x<W>x<C>].onnx unless --out is given."
        ),
        func=run_export,
    )
    p.add_argument(
        "--weights",
        metavar="W",
        help="trained checkpoint (.pt from 'grace-edge train'); if left out, an untrained --model (latency only)",
    )
    p.add_argument("--model", default="grace-s", choices=MODEL_NAMES,
                   help="architecture of the UNTRAINED model exported when --weights is not given "
                        "(latency measurement only; default %(default)s)")
    p.add_argument("--imgsz", type=int, default=None,
                   help="network input size in pixels, a multiple of 32 (default: the size --weights was trained at; 640 without --weights)")
    batch = p.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, default=1, help="fixed number of images per call (default 1)")
    batch.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="let the batch size vary at run time (1 to 32) instead of fixing it",
    )
    inp = p.add_mutually_exclusive_group()
    inp.add_argument(
        "--raw-input",
        default=NEU_DET_IMAGE_TEXT,
        metavar="HxWxC",
        help="camera image size and channels the graph takes as uint8 (C=1 gray, C=3 BGR); default %(default)s (NEU-DET)",
    )
    inp.add_argument(
        "--float-input",
        action="store_true",
        help="take float32 [B,3,imgsz,imgsz] images already letterboxed by the host instead of raw camera pixels",
    )
    p.add_argument("--max-det", type=int, default=100, help="most detections returned per image (default 100)")
    p.add_argument(
        "--score-floor",
        type=float,
        default=0.001,
        metavar="SCORE",
        help="lowest score the graph itself keeps (default 0.001, low enough to measure mAP); this is not the "
        "deployment threshold: 'predict', 'bench' and Detector apply --conf on top",
    )
    add_alias(p, "--conf", "score_floor", "the graph's own score floor is now --score-floor", type=float)
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold: boxes of one class overlapping more are merged (default 0.7)")
    add_topk(p)
    p.add_argument("--out", metavar="PATH", help="where to write the .onnx file (default export/<model>-<imgsz>...onnx)")
    p.add_argument("--no-simplify", action="store_true", help="skip the onnxsim graph simplification")


def run_export(args: argparse.Namespace) -> int:
    from grace_edge.export.onnx_export import export_imgsz, export_onnx, parse_raw_input
    from grace_edge.export.topk import DEFAULT_TOPK

    raw_input = None if args.float_input else parse_raw_input(args.raw_input)
    if args.weights:
        source = args.weights
    else:
        from grace_edge.model.build import untrained_model

        source = untrained_model(args.model, "--weights", "exporting")
    path = export_onnx(
        source,
        args.out,
        imgsz=export_imgsz(args.weights) if args.imgsz is None else args.imgsz,
        batch=args.batch,
        dynamic_batch=args.dynamic_batch,
        raw_input=raw_input,
        max_det=args.max_det,
        conf_thres=args.score_floor,
        iou_thres=args.iou,
        topk=DEFAULT_TOPK if args.topk is None else args.topk,
        simplify=not args.no_simplify,
    )
    print(f"exported {path}")
    return 0
