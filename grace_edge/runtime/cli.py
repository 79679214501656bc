"""``grace-edge predict``: run an artifact (.onnx or .engine) on images, a folder, a video or a camera."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grace_edge.cli_options import add_alias, add_device, add_runtime_flags, runtime_options


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="detect defects in images, a folder, a video or a camera with an exported model or engine",
        description=(
            "Run the grace-edge ARTIFACT on SOURCE and save the images with boxes drawn (and, with --save-json, one\n"
            "JSON file of detections per image) in --out. A .onnx model runs on the CPU (ONNX Runtime, or\n"
            "OpenVINO with --backend openvino), a .engine\n"
            "on the GPU (TensorRT). Boxes are in the pixels of the input images.\n"
            "Unreadable or unusable images are reported one per line and counted; the exit code is then 1."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.set_defaults(func=run_predict)


DRAW_MIN_SIDE = 600  # NEU-DET's 200x200 images are drawn 3x larger: labels stay readable


def _output_stem(name: str, used: set[str]) -> str:
    stem = Path(name).stem
    if stem in used:  # e.g. a.jpg and a.png in one folder
        stem = name.replace(".", "_")
    used.add(stem)
    return stem


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
    import cv2

    from grace_edge.errors import InputError
    from grace_edge.io import fresh_path, write_bytes, write_json
    from grace_edge.runtime.detector import Detector
    from grace_edge.runtime.draw import draw_detections
    from grace_edge.runtime.sources import describe, folder_images, iter_frames

    _old_spelling(args)
    kind = describe(args.source)
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames {args.max_frames} must be at least 1")
    out = Path(args.out) if args.out else fresh_path(Path("runs") / "predict" / Path(args.artifact).stem)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; --out names the folder the results go to")
    if kind == "folder":
        images, others = folder_images(Path(args.source))
        if others:
            print(f"predict: ignoring {len(others)} non-image file(s) in {args.source}: "
                  + ", ".join(p.name for p in others[:5]) + (" ..." if len(others) > 5 else ""), file=sys.stderr)
        if not images:
            raise InputError(f"source {args.source}: folder has no image files")

    frames_done = detections_total = 0
    failed: list[tuple[str, str]] = []
    used: set[str] = set()
    with Detector.open(args.artifact, conf=args.conf, thresholds=args.thresholds, device=args.device,
                       **runtime_options(args)) as det:
        for frame in iter_frames(args.source, limit=args.max_frames):
            if frame.image is None:
                failed.append((frame.name, frame.error))
                print(f"  {frame.name}: SKIPPED, {frame.error}", file=sys.stderr)
                continue
            try:
                found = det.detect(frame.image)[0]
            except InputError as e:
                failed.append((frame.name, str(e)))
                print(f"  {frame.name}: SKIPPED, {e}", file=sys.stderr)
                continue
            frames_done += 1
            detections_total += len(found)
            stem = _output_stem(frame.name, used)
            if not args.no_draw:
                ok, encoded = cv2.imencode(".jpg", draw_detections(frame.image, found, min_side=DRAW_MIN_SIDE))
                if not ok:
                    raise InputError(f"{frame.name}: OpenCV could not encode the drawn image")
                write_bytes(out / f"{stem}.jpg", encoded.tobytes())
            if args.save_json:
                h, w = frame.image.shape[:2]
                write_json(out / f"{stem}.json", {
                    "source": frame.name, "width": w, "height": h, "model": str(args.artifact), "conf": det.conf,
                    "thresholds": args.thresholds,
                    "detections": [d.to_dict() for d in found],
                })
            summary = ", ".join(f"{d.class_name} {d.score:.2f}" for d in found[:5]) + (" ..." if len(found) > 5 else "")
            print(f"  {frame.name}: {len(found)} detection(s)" + (f" ({summary})" if found else ""))

    written = "" if args.no_draw and not args.save_json else f"; results in {out}"
    print(f"predict: {frames_done} image(s), {detections_total} detection(s), {len(failed)} unreadable{written}")
    return 1 if failed else 0
