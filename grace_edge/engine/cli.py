"""``grace-edge build``: argparse only; the pipeline is :func:`grace_edge.engine.pipeline.build`."""

from __future__ import annotations

import argparse
from pathlib import Path

from grace_edge.cli_options import add_command, add_runtime_flags, add_topk, runtime_options
from grace_edge.data.classes import NEU_DET_IMAGE_TEXT
from grace_edge.engine.pipeline import BuildOptions as D  # the defaults live on the options the CLI fills
from grace_edge.engine.pipeline import parse_batch
from grace_edge.errors import InputError
from grace_edge.model.build import MODEL_NAMES


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "build",
        help="build the deployable model: a TensorRT engine (or the ONNX Runtime CPU model without a GPU)",
        description=(
            "Make the deployable artifact in engines/: exports the FP32 ONNX (or takes --onnx), converts it to the\n"
            "chosen precision (FP16 graph, or INT8 with Q/DQ nodes calibrated on train images), checks that its\n"
            "mAP50-95 is within --max-map-drop of FP32 on the val split, then builds a strongly typed TensorRT\n"
            "engine for this GPU. Without TensorRT or a GPU it writes the ONNX Runtime CPU model instead and says so.\n"
            "--int8 lays the Q/DQ graph out for the target and says which: NVIDIA ModelOpt's for an engine (FP16\n"
            "outside Q/DQ; its venv: bash .ci/modelopt_env.sh, else ONNX Runtime's layout, FP32 outside Q/DQ),\n"
            "the CPU layout (uint8 activations, integer kernels in ONNX Runtime/OpenVINO) for the CPU model.\n"
            "--backend openvino [--inference-precision bf16] builds the CPU model and runs the gate on OpenVINO."
        ),
        func=run_build,
    )
    prec = p.add_mutually_exclusive_group(required=True)
    prec.add_argument("--fp32", dest="precision", action="store_const", const="fp32", help="full precision")
    prec.add_argument("--fp16", dest="precision", action="store_const", const="fp16",
                      help="half precision; box decode, NMS and preprocessing stay FP32")
    prec.add_argument("--int8", dest="precision", action="store_const", const="int8",
                      help="8-bit integer convolutions, calibrated on train images of --data (needs --data)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--weights", type=Path, metavar="W", help="trained checkpoint (.pt) to export and build")
    src.add_argument("--onnx", type=Path, metavar="ONNX",
                     help="FP32 ONNX made by 'grace-edge export' (skips exporting, so the export options --imgsz, "
                          "--raw-input, --float-input and --topk are refused with it)")
    p.add_argument("--model", default=D.model, choices=MODEL_NAMES,
                   help="architecture of the UNTRAINED model built when neither --weights nor --onnx is given "
                        "(latency measurement only; default grace-s)")
    p.add_argument("--batch", type=_batch_arg, metavar="N|MIN:OPT:MAX",
                   help="images per call: a fixed N, or a range the engine accepts, tuned for OPT (default 1)")
    p.add_argument("--imgsz", type=int, default=D.imgsz,
                   help="network input size when exporting, a multiple of 32 (default: the size --weights was trained "
                        "at; 640 without --weights)")
    inp = p.add_mutually_exclusive_group()
    inp.add_argument("--raw-input", default=NEU_DET_IMAGE_TEXT, metavar="HxWxC",
                     help="camera image size and channels the graph takes as uint8 when exporting (default %(default)s)")
    inp.add_argument("--float-input", action="store_true",
                     help="export for float32 images letterboxed by the host instead of raw camera pixels")
    add_topk(p)
    p.add_argument("--workspace", type=float, metavar="GiB", help="TensorRT builder scratch memory limit in GiB")
    p.add_argument("--dla", type=int, metavar="N",
                   help="EXPERIMENTAL, not yet run on an AGX Orin: build for Jetson DLA core N (FP16/INT8 only; "
                        "layers DLA cannot run fall back to the GPU). 'grace-edge doctor' on an Orin tries it")
    p.add_argument("--timing-cache", type=Path, metavar="PATH",
                   help="TensorRT timing cache file: read if present, written back after the build (faster rebuilds)")
    p.add_argument("--data", type=Path, metavar="YAML",
                   help="dataset YAML: train images calibrate INT8, val images feed the accuracy gate")
    p.add_argument("--calib-images", type=int, default=D.calib_images, metavar="N",
                   help="number of train images used for INT8 calibration (default %(default)s)")
    p.add_argument("--calib-method", default=D.calib_method, choices=("entropy", "percentile", "minmax"),
                   help="how INT8 ranges are chosen from the calibration activations (default %(default)s)")
    p.add_argument("--max-map-drop", type=float, default=D.max_map_drop, metavar="PTS",
                   help="fail the build if mAP50-95 falls more than this many points below FP32 (default %(default)s)")
    p.add_argument("--gate-images", type=int, metavar="N",
                   help="evaluate the gate on N val images spread over the split (default: all)")
    p.add_argument("--gate-report", type=Path, metavar="DIR",
                   help="folder for the gate's report (FP32 vs this build: per-class deltas, PR curves, failure "
                        "gallery, thresholds.yaml per side; written pass or fail); default runs/gate/<artifact name>")
    p.add_argument("--no-gate", action="store_true", help="skip the accuracy gate (a warning is printed)")
    p.add_argument("--require-tensorrt", action="store_true",
                   help="fail instead of building the ONNX Runtime CPU model when TensorRT or a GPU is missing")
    add_runtime_flags(p)
    p.add_argument("--out", type=Path, metavar="PATH", help="artifact path (default engines/<generated name>)")
    p.add_argument("--verbose", action="store_true", help="show TensorRT's builder log")


def _batch_arg(text: str) -> tuple[int, int, int]:
    try:
        return parse_batch(text)
    except InputError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None


def run_build(args: argparse.Namespace) -> int:
    from grace_edge.engine.pipeline import BuildOptions, build
    from grace_edge.export.onnx_export import parse_raw_input

    options = BuildOptions(
        precision=args.precision, weights=args.weights, onnx=args.onnx, model=args.model, batch=args.batch,
        imgsz=args.imgsz, raw_input=None if args.float_input else parse_raw_input(args.raw_input), topk=args.topk,
        workspace_gib=args.workspace, dla_core=args.dla, timing_cache=args.timing_cache, data=args.data,
        calib_images=args.calib_images, calib_method=args.calib_method, max_map_drop=args.max_map_drop,
        gate=not args.no_gate, gate_images=args.gate_images, gate_report=args.gate_report,
        require_tensorrt=args.require_tensorrt, out=args.out,
        verbose=args.verbose, runtime=runtime_options(args),
    )
    build(options)
    return 0
