"""``grace-edge build``: FP32 ONNX -> FP16 / INT8 graph -> accuracy gate -> TensorRT engine (or the CPU model).

:func:`build` is the typed API behind the command; ``add_commands`` only maps options onto :class:`BuildOptions`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grace_edge.errors import BackendUnavailable, InputError
from grace_edge.export.calibration import DEFAULT_CALIB_IMAGES

PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_OUT_DIR = Path("engines")
CPU_FALLBACK = "no TensorRT/GPU found: built the ONNX Runtime CPU model instead"
UNTRAINED_WARNING = (
    "WARNING: no --weights/--onnx given: building an UNTRAINED {model}. Its detections are meaningless; "
    "use it only to measure latency."
)


@dataclass
class BuildOptions:
    """Everything ``grace-edge build`` can be told; see the command's --help for each field."""

    precision: str
    weights: Path | None = None
    onnx: Path | None = None
    model: str = "grace-s"  # untrained model used when neither weights nor onnx is given
    batch: tuple[int, int, int] | None = None  # (min, opt, max); None: 1, or what --onnx was exported with
    imgsz: int = 640
    raw_input: tuple[int, int, int] | None = (200, 200, 1)
    workspace_gib: float | None = None
    dla_core: int | None = None
    timing_cache: Path | None = None
    data: Path | None = None
    calib_images: int = DEFAULT_CALIB_IMAGES
    calib_method: str = "entropy"
    max_map_drop: float = 1.0
    gate: bool = True
    gate_images: int | None = None
    require_tensorrt: bool = False
    out: Path | None = None
    out_dir: Path = DEFAULT_OUT_DIR
    verbose: bool = False


@dataclass
class BuildReport:
    path: Path
    backend: str  # "tensorrt" | "onnxruntime"
    precision: str
    gate: Any = None  # grace_edge.export.gate.GateResult when the gate ran
    notes: list[str] = field(default_factory=list)


def parse_batch(text: str) -> tuple[int, int, int]:
    """``4`` -> (4, 4, 4); ``1:8:16`` -> (1, 8, 16)."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or not 1 <= parts[0] <= parts[1] <= parts[2]:
        raise InputError(f"--batch {text!r}: give N or MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX")
    return parts[0], parts[1], parts[2]


def choose_backend(require_tensorrt: bool) -> tuple[str, Any, str]:
    """("tensorrt", GpuInfo, "") when TensorRT and a CUDA GPU are here, else ("onnxruntime", None, reason)."""
    from grace_edge.build.tensorrt_build import gpu_info, tensorrt_version

    version = tensorrt_version()
    gpu = gpu_info() if version else None
    if version and gpu:
        return "tensorrt", gpu, ""
    reason = "the tensorrt package is not installed" if not version else "no CUDA GPU was found"
    if require_tensorrt:
        raise BackendUnavailable(f"--require-tensorrt: {reason}; build on a machine with an NVIDIA GPU and TensorRT >= 10")
    return "onnxruntime", None, reason


def build(options: BuildOptions, log: Callable[[str], None] = print) -> BuildReport:
    """Run the whole build; returns where the artifact went. Nothing is written if a step (or the gate) fails."""
    from grace_edge.artifact import read_onnx_meta

    o = options
    _check_options(o)
    backend, gpu, reason = choose_backend(o.require_tensorrt)
    suffix = ".engine" if backend == "tensorrt" else ".onnx"
    if o.out is not None and Path(o.out).suffix != suffix:
        raise InputError(f"--out {o.out}: this machine builds a {backend} artifact, which must end in {suffix}")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="grace-build-") as tmp:
        work = Path(tmp)
        fp32 = _fp32_onnx(o, work, log)
        meta = read_onnx_meta(fp32)
        batch = _resolve_batch(o.batch, meta.batch, fp32)
        out = _output_path(o, backend, meta.model, batch, meta.imgsz[0], gpu)
        candidate = _precision_onnx(o, fp32, work / f"{out.stem}.onnx", out.parent, log)
        gate = _gate(o, fp32, candidate, log, notes)

        final = read_onnx_meta(candidate)
        final.batch = batch
        if backend == "tensorrt":
            from grace_edge.artifact import pack_engine, sha256_file
            from grace_edge.build.tensorrt_build import build_engine
            from grace_edge.io import write_bytes

            log(f"building a strongly typed TensorRT engine for {gpu.name} (compute {gpu.compute_capability})...")
            built = build_engine(candidate, precision=o.precision, batch=batch, workspace_gib=o.workspace_gib,
                                 dla_core=o.dla_core, timing_cache=o.timing_cache, verbose=o.verbose)
            final.source = {**final.source, "onnx_sha256": sha256_file(candidate)}
            final.backend = {"tensorrt": built.tensorrt_version, "gpu": gpu.name,
                             "compute_capability": gpu.compute_capability}
            if o.dla_core is not None:
                final.backend["dla_core"] = str(o.dla_core)
            write_bytes(out, pack_engine(final, built.engine))
        else:
            from grace_edge.build.onnxruntime_build import build_cpu_model

            ignored = [flag for flag, v in (("--workspace", o.workspace_gib), ("--dla", o.dla_core),
                                            ("--timing-cache", o.timing_cache)) if v is not None]
            notes.append(f"{CPU_FALLBACK} ({reason})")
            if ignored:
                notes.append(f"{', '.join(ignored)} apply to TensorRT only and were not used")
            build_cpu_model(candidate, out, final)
    for note in notes:
        log(note)
    log(f"wrote {out}")
    return BuildReport(out, backend, o.precision, gate, notes)


def _check_options(o: BuildOptions) -> None:
    if o.precision not in PRECISIONS:
        raise InputError(f"precision {o.precision!r}: choose --fp32, --fp16 or --int8")
    if o.weights is not None and o.onnx is not None:
        raise InputError("give --weights or --onnx, not both")
    for flag, path in (("--weights", o.weights), ("--onnx", o.onnx), ("--data", o.data)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{flag} {path}: file not found")
    if o.precision == "int8" and o.data is None:
        raise InputError("--int8 needs --data YAML: INT8 calibration reads images of its train split")
    if o.workspace_gib is not None and o.workspace_gib <= 0:
        raise InputError(f"--workspace must be positive GiB, got {o.workspace_gib}")
    if o.dla_core is not None and o.dla_core < 0:
        raise InputError(f"--dla must be a core index >= 0, got {o.dla_core}")
    if o.calib_images < 1:
        raise InputError(f"--calib-images must be at least 1, got {o.calib_images}")


def _fp32_onnx(o: BuildOptions, work: Path, log: Callable[[str], None]) -> Path:
    if o.onnx is not None:
        return Path(o.onnx)
    from grace_edge.export.onnx_export import export_onnx

    if o.weights is not None:
        source: Any = o.weights
    else:
        print(UNTRAINED_WARNING.format(model=o.model), file=sys.stderr)
        from grace_edge.model.build import build_model

        source = build_model(o.model)
    lo, opt, hi = o.batch or (1, 1, 1)
    path = export_onnx(source, work / "export" / "fp32.onnx", imgsz=o.imgsz, batch=opt, dynamic_batch=lo != hi,
                       raw_input=o.raw_input)
    log(f"exported the FP32 ONNX (imgsz {o.imgsz}, {'raw uint8 ' + 'x'.join(map(str, o.raw_input)) if o.raw_input else 'float'} input)")
    return path


def _resolve_batch(wanted: tuple[int, int, int] | None, exported: tuple[int, int, int], path: Path) -> tuple[int, int, int]:
    """The batch profile: what was asked for, checked against the ONNX (a fixed batch cannot become a range)."""
    import onnx

    graph_input = onnx.load(str(path), load_external_data=False).graph.input[0]
    dim0 = graph_input.type.tensor_type.shape.dim[0]
    fixed = dim0.dim_value if dim0.HasField("dim_value") else None
    if wanted is None:
        return tuple(exported)  # type: ignore[return-value]
    if fixed is not None and wanted != (fixed, fixed, fixed):
        raise InputError(f"--batch {':'.join(map(str, wanted))}: {path.name} has a fixed batch of {fixed}; "
                         "export it with --dynamic-batch or pass --weights to export here")
    return wanted


def _output_path(o: BuildOptions, backend: str, model: str, batch: tuple[int, int, int], imgsz: int, gpu: Any) -> Path:
    from grace_edge.build.naming import cpu_model_name, engine_name
    from grace_edge.build.tensorrt_build import tensorrt_version

    if o.out is not None:
        return Path(o.out)
    if backend == "tensorrt":
        name = engine_name(model, o.precision, batch, imgsz, tensorrt_version() or "", gpu.name)
    else:
        name = cpu_model_name(model, o.precision, batch, imgsz)
    return Path(o.out_dir) / name


def _precision_onnx(o: BuildOptions, fp32: Path, dest: Path, cache_dir: Path, log: Callable[[str], None]) -> Path:
    """The graph in the requested precision, written to ``dest`` (FP32: ``fp32`` itself, checked)."""
    if o.precision == "fp32":
        from grace_edge.export.precision import load_fp32

        load_fp32(fp32)  # same checks as the other precisions: readable, grace-edge metadata, FP32
        return fp32
    if o.precision == "fp16":
        from grace_edge.export.precision import convert_fp16

        path = convert_fp16(fp32, dest)
        log("made the FP16 graph (preprocessing, box decode and NMS kept in FP32)")
        return path
    from grace_edge.export.calibration import calibration_images
    from grace_edge.export.quantize import quantize_int8

    images = calibration_images(o.data, o.calib_images)  # type: ignore[arg-type]
    log(f"calibrating INT8 ({o.calib_method}) on {len(images)} train images of {o.data}...")
    result = quantize_int8(fp32, dest, images, method=o.calib_method, cache_dir=cache_dir)
    log(f"made the INT8 Q/DQ graph; calibration cache {'reused' if result.cache_hit else 'written'}: {result.cache_path}")
    return result.path


def _gate(o: BuildOptions, fp32: Path, candidate: Path, log: Callable[[str], None], notes: list[str]) -> Any:
    if o.precision == "fp32":
        return None
    if not o.gate:
        notes.append("WARNING: --no-gate: the accuracy of this reduced-precision build was NOT checked")
        return None
    if o.data is None:
        notes.append("accuracy gate did not run: no --data given, so this build's accuracy was NOT checked")
        return None
    from grace_edge.export.gate import enforce, run_gate

    log(f"accuracy gate: evaluating FP32 and {o.precision.upper()} on the val split of {o.data}...")
    result = run_gate(fp32, candidate, o.data, o.precision, max_map_drop=o.max_map_drop, max_images=o.gate_images)
    log(result.summary())
    enforce(result)
    return result


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build",
        help="build the deployable model: a TensorRT engine (or the ONNX Runtime CPU model without a GPU)",
        description=(
            "Make the deployable artifact in engines/: exports the FP32 ONNX (or takes --onnx), converts it to the\n"
            "chosen precision (FP16 graph, or INT8 with Q/DQ nodes calibrated on train images), checks that its\n"
            "mAP50-95 is within --max-map-drop of FP32 on the val split, then builds a strongly typed TensorRT\n"
            "engine for this GPU. Without TensorRT or a GPU it writes the ONNX Runtime CPU model instead and says so."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prec = p.add_mutually_exclusive_group(required=True)
    prec.add_argument("--fp32", dest="precision", action="store_const", const="fp32", help="full precision")
    prec.add_argument("--fp16", dest="precision", action="store_const", const="fp16",
                      help="half precision; box decode, NMS and preprocessing stay FP32")
    prec.add_argument("--int8", dest="precision", action="store_const", const="int8",
                      help="8-bit integer convolutions, calibrated on train images of --data (needs --data)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--weights", type=Path, metavar="W", help="trained checkpoint (.pt) to export and build")
    src.add_argument("--onnx", type=Path, metavar="ONNX", help="FP32 ONNX made by 'grace-edge export' (skips exporting)")
    p.add_argument("--model", default="grace-s", choices=("grace-s", "grace-n", "yolo11s", "yolo11n"),
                   help="architecture of the UNTRAINED model built when neither --weights nor --onnx is given "
                        "(latency measurement only; default grace-s)")
    p.add_argument("--batch", type=_batch_arg, metavar="N|MIN:OPT:MAX",
                   help="images per call: a fixed N, or a range the engine accepts, tuned for OPT (default 1)")
    p.add_argument("--imgsz", type=int, default=640, help="network input size when exporting (default 640)")
    inp = p.add_mutually_exclusive_group()
    inp.add_argument("--raw-input", default="200x200x1", metavar="HxWxC",
                     help="camera image size and channels the graph takes as uint8 when exporting (default 200x200x1)")
    inp.add_argument("--float-input", action="store_true",
                     help="export for float32 images letterboxed by the host instead of raw camera pixels")
    p.add_argument("--workspace", type=float, metavar="GiB", help="TensorRT builder scratch memory limit in GiB")
    p.add_argument("--dla", type=int, metavar="N", help="run on Jetson DLA core N (FP16/INT8 only; GPU fallback on)")
    p.add_argument("--timing-cache", type=Path, metavar="PATH",
                   help="TensorRT timing cache file: read if present, written back after the build (faster rebuilds)")
    p.add_argument("--data", type=Path, metavar="YAML",
                   help="dataset YAML: train images calibrate INT8, val images feed the accuracy gate")
    p.add_argument("--calib-images", type=int, default=DEFAULT_CALIB_IMAGES, metavar="N",
                   help=f"number of train images used for INT8 calibration (default {DEFAULT_CALIB_IMAGES})")
    p.add_argument("--calib-method", default="entropy", choices=("entropy", "percentile", "minmax"),
                   help="how INT8 ranges are chosen from the calibration activations (default entropy)")
    p.add_argument("--max-map-drop", type=float, default=1.0, metavar="PTS",
                   help="fail the build if mAP50-95 falls more than this many points below FP32 (default 1.0)")
    p.add_argument("--gate-images", type=int, metavar="N",
                   help="evaluate the gate on N val images spread over the split (default: all)")
    p.add_argument("--no-gate", action="store_true", help="skip the accuracy gate (a warning is printed)")
    p.add_argument("--require-tensorrt", action="store_true",
                   help="fail instead of building the ONNX Runtime CPU model when TensorRT or a GPU is missing")
    p.add_argument("--out", type=Path, metavar="PATH", help="artifact path (default engines/<generated name>)")
    p.add_argument("--verbose", action="store_true", help="show TensorRT's builder log")
    p.set_defaults(func=run_build)


def _batch_arg(text: str) -> tuple[int, int, int]:
    try:
        return parse_batch(text)
    except InputError as e:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None


def run_build(args: argparse.Namespace) -> int:
    from grace_edge.export.onnx_export import parse_raw_input

    options = BuildOptions(
        precision=args.precision, weights=args.weights, onnx=args.onnx, model=args.model, batch=args.batch,
        imgsz=args.imgsz, raw_input=None if args.float_input else parse_raw_input(args.raw_input),
        workspace_gib=args.workspace, dla_core=args.dla, timing_cache=args.timing_cache, data=args.data,
        calib_images=args.calib_images, calib_method=args.calib_method, max_map_drop=args.max_map_drop,
        gate=not args.no_gate, gate_images=args.gate_images, require_tensorrt=args.require_tensorrt, out=args.out,
        verbose=args.verbose,
    )
    build(options)
    return 0
