"""``grace-edge predict``: run an artifact (.onnx or .engine) on images, a folder, a video or a camera. argparse
only; the loop is :func:`grace_edge.runtime.predict.predict`."""

from __future__ import annotations

import argparse
from pathlib import Path

from grace_edge.cli_options import add_alias, add_command, add_device, add_runtime_flags, runtime_options


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "predict",
        help="detect defects in images, a folder, a video or a camera with an exported model or engine",
        description=(
            "Run the grace-edge ARTIFACT on SOURCE and save the images with boxes drawn (and, with --save-json, one\n"
            "JSON file of detections per image) in --out. A .onnx model runs on the CPU (ONNX Runtime, or\n"
            "OpenVINO with --backend openvino), a .engine\n"
            "on the GPU (TensorRT). Boxes are in the pixels of the input images.\n"
            "Unreadable or unusable images are reported one per line and counted; the exit code is then 1."
        ),
        func=run_predict,
    )
    p.add_argument("artifact", metavar="ARTIFACT",
                   help="the model to run: .onnx from 'grace-edge export' / 'build', or .engine from 'grace-edge build'")
    p.add_argument(
        "source",
        nargs="?",  # optional only so that the old 'predict SOURCE --model ARTIFACT' still parses
        metavar="SOURCE",
        help="an image file, a folder of images (not searched recursively), a video file, or a camera index (0, 1, ...)",
    )
    add_alias(p, "--model", "artifact_alias", "write 'grace-edge predict ARTIFACT SOURCE' instead", metavar="ARTIFACT")
    p.add_argument("--conf", type=float, default=None,
                   help="keep detections with at least this score, 0-1 (default 0.25); or use --thresholds")
    p.add_argument("--thresholds", default=None, metavar="FILE",
                   help="per-class minimum scores instead of --conf: a thresholds.yaml as 'grace-edge val' writes it "
                        "into its run folder (its 'default' for classes it does not list)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the drawn images and JSON files (default runs/predict/<model name>, or <model "
                        "name>-2, -3, ... so that an earlier run is kept)")
    p.add_argument("--save-json", action="store_true",
                   help="also write <image>.json with the boxes, scores and class names of each image")
    p.add_argument("--no-draw", action="store_true", help="do not write images with boxes drawn")
    add_device(p, "auto", "'auto' (default), 'cpu' for .onnx, a GPU index such as 0 or cuda:0 for .engine")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop a video or camera after N frames (a camera otherwise runs until Ctrl+C)")
    add_runtime_flags(p)


def _old_spelling(args: argparse.Namespace) -> None:
    """``predict SOURCE --model ARTIFACT`` (the old order) -> artifact and source in their new places."""
    from grace_edge.errors import InputError

    if getattr(args, "artifact_alias", None) is not None:
        if args.source is not None:
            raise InputError("two artifacts given: write 'grace-edge predict ARTIFACT SOURCE'")
        args.artifact, args.source = args.artifact_alias, args.artifact
    if args.source is None:
        raise InputError("no SOURCE given: write 'grace-edge predict ARTIFACT SOURCE'")


def run_predict(args: argparse.Namespace) -> int:
    from grace_edge.runtime.predict import PredictOptions, predict

    _old_spelling(args)
    options = PredictOptions(
        artifact=args.artifact, source=args.source, out=Path(args.out) if args.out else None, conf=args.conf,
        thresholds=args.thresholds, device=args.device, max_frames=args.max_frames, save_json=args.save_json,
        draw=not args.no_draw, runtime=runtime_options(args),
    )
    return predict(options).exit_code
