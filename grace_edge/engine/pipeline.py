"""The build pipeline: FP32 ONNX -> FP16 / INT8 graph -> accuracy gate -> TensorRT engine (or the CPU model).

:func:`build` is the typed API behind ``grace-edge build``; :mod:`grace_edge.engine.cli` only fills :class:`BuildOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grace_edge.artifact import PRECISIONS
from grace_edge.data.classes import NEU_DET_IMAGE_SHAPE
from grace_edge.engine.calibration import DEFAULT_CALIB_IMAGES
from grace_edge.errors import ArtifactError, BackendUnavailable, InputError
from grace_edge.io import remove_stale_temp, temp_dir

DEFAULT_OUT_DIR = Path("engines")
CPU_FALLBACK = "no TensorRT/GPU found: built the ONNX Runtime CPU model instead"


@dataclass
class BuildOptions:
    """Everything ``grace-edge build`` can be told; see the command's --help for each field."""

    precision: str
    weights: Path | None = None
    onnx: Path | None = None
    model: str = "grace-s"  # untrained model used when neither weights nor onnx is given
    batch: tuple[int, int, int] | None = None  # (min, opt, max); None: 1, or what --onnx was exported with
    # Export options (with ``onnx`` given they would change nothing, so setting one is an error). imgsz None: the size
    # ``weights`` was trained at, 640 for an untrained model; topk None: the export's default K.
    imgsz: int | None = None
    raw_input: tuple[int, int, int] | None = NEU_DET_IMAGE_SHAPE
    topk: int | None = None
    workspace_gib: float | None = None
    dla_core: int | None = None
    timing_cache: Path | None = None
    data: Path | None = None
    calib_images: int = DEFAULT_CALIB_IMAGES
    calib_method: str = "entropy"
    max_map_drop: float = 1.0
    gate: bool = True
    gate_images: int | None = None
    gate_report: Path | None = None  # the gate's comparison report folder; None: runs/gate/<artifact name>[-2, ...]
    require_tensorrt: bool = False
    # The runtime that will run the artifact (``Detector.open`` options: backend, inference_precision, shared_cpu):
    # picks the target (TensorRT engine or CPU model), the INT8 layout, and what the accuracy gate runs on.
    runtime: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None
    out_dir: Path = DEFAULT_OUT_DIR
    verbose: bool = False


@dataclass
class BuildReport:
    path: Path
    backend: str  # "tensorrt" | "onnxruntime"
    precision: str
    gate: Any = None  # grace_edge.engine.gate.GateResult when the gate ran
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
    from grace_edge.engine.tensorrt_build import gpu_info, tensorrt_problem

    problem = tensorrt_problem()  # "not installed", or the native libraries' own load error
    gpu = gpu_info() if problem is None else None
    if problem is None and gpu:
        return "tensorrt", gpu, ""
    reason = problem or "no CUDA GPU was found"
    if require_tensorrt:
        raise BackendUnavailable(f"--require-tensorrt: {reason}; build on a machine with an NVIDIA GPU and TensorRT >= 10")
    return "onnxruntime", None, reason


def build(options: BuildOptions, log: Callable[[str], None] = print) -> BuildReport:
    """Run the whole build; returns where the artifact went. Nothing is written if a step (or the gate) fails."""
    from grace_edge.artifact import read_onnx_meta

    o = options
    _check_options(o)
    backend, gpu, reason = _target(o)
    suffix = ".engine" if backend == "tensorrt" else ".onnx"
    if o.out is not None and Path(o.out).suffix != suffix:
        raise InputError(f"--out {o.out}: this machine builds a {backend} artifact, which must end in {suffix}")
    notes: list[str] = []
    removed = remove_stale_temp()
    if removed:
        log(f"removed {len(removed)} temp folder(s) left by killed builds: {', '.join(p.name for p in removed)}")
    with temp_dir("grace-build-") as tmp:
        work = Path(tmp)
        fp32 = _fp32_onnx(o, work, log)
        meta = read_onnx_meta(fp32)
        batch = _resolve_batch(o.batch, meta.batch, fp32)
        out = _output_path(o, backend, meta.model, batch, meta.imgsz[0], gpu)
        candidate = _precision_onnx(o, fp32, work / f"{out.stem}.onnx", out.parent, log, backend)
        _check_tensorrt_conformance(candidate, backend, log, notes)  # before the gate's minutes and the parser
        gate = _gate(o, fp32, candidate, log, notes, out)

        final = read_onnx_meta(candidate)
        final.batch = batch
        if backend == "tensorrt":
            from grace_edge.artifact import pack_engine, sha256_file
            from grace_edge.engine.tensorrt_build import build_engine
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
            notes.extend(built.notes)
        else:
            from grace_edge.engine.onnxruntime_build import build_cpu_model

            ignored = [flag for flag, v in (("--workspace", o.workspace_gib), ("--dla", o.dla_core),
                                            ("--timing-cache", o.timing_cache)) if v is not None]
            notes.append(f"built the CPU model ({reason})" if reason.startswith("--backend") else f"{CPU_FALLBACK} ({reason})")
            if ignored:
                notes.append(f"{', '.join(ignored)} apply to TensorRT only and were not used")
            build_cpu_model(candidate, out, final)
    for note in notes:
        log(note)
    log(f"wrote {out}")
    return BuildReport(out, backend, o.precision, gate, notes)


def _target(o: BuildOptions) -> tuple[str, Any, str]:
    """What to build: ``--backend onnxruntime/openvino`` ask for the CPU model, ``tensorrt`` for an engine, ``auto``
    for an engine where TensorRT and a GPU are (see :func:`choose_backend`)."""
    runtime = str(o.runtime.get("backend", "auto"))
    if runtime in ("onnxruntime", "openvino"):
        if o.require_tensorrt:
            raise InputError(f"--require-tensorrt contradicts --backend {runtime} (a CPU model)")
        return "onnxruntime", None, f"--backend {runtime}"
    return choose_backend(o.require_tensorrt or runtime == "tensorrt")


def _check_options(o: BuildOptions) -> None:
    if o.precision not in PRECISIONS:
        raise InputError(f"precision {o.precision!r}: choose --fp32, --fp16 or --int8")
    if o.weights is not None and o.onnx is not None:
        raise InputError("give --weights or --onnx, not both")
    export_flags = _export_flags(o)
    if o.onnx is not None and export_flags:
        raise InputError(f"{', '.join(export_flags)} with --onnx: {o.onnx} is already exported, so this would change "
                         "nothing; pass it to 'grace-edge export', or build from --weights")
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


def _export_flags(o: BuildOptions) -> list[str]:
    """The export options set away from their defaults: ignored silently, one would build something else than asked
    (``--raw-input`` spelled at its default cannot be told from not given)."""
    raw_input = tuple(o.raw_input) if o.raw_input is not None else None
    given = (("--imgsz", o.imgsz is not None), ("--topk", o.topk is not None),
             ("--raw-input/--float-input", raw_input != NEU_DET_IMAGE_SHAPE))
    return [flag for flag, is_set in given if is_set]


def _fp32_onnx(o: BuildOptions, work: Path, log: Callable[[str], None]) -> Path:
    if o.onnx is not None:
        return Path(o.onnx)
    from grace_edge.export.onnx_export import export_imgsz, export_onnx
    from grace_edge.export.topk import DEFAULT_TOPK

    if o.weights is not None:
        source: Any = o.weights
    else:
        from grace_edge.model.build import untrained_model

        source = untrained_model(o.model, "--weights/--onnx", "building")
    lo, opt, hi = o.batch or (1, 1, 1)
    imgsz = export_imgsz(o.weights) if o.imgsz is None else o.imgsz
    topk = DEFAULT_TOPK if o.topk is None else o.topk
    path = export_onnx(source, work / "export" / "fp32.onnx", imgsz=imgsz, batch=opt, dynamic_batch=lo != hi,
                       raw_input=o.raw_input, topk=topk)
    source_text = "raw uint8 " + "x".join(map(str, o.raw_input)) if o.raw_input else "float"
    log(f"exported the FP32 ONNX (imgsz {imgsz}, {source_text} input, NMS top-{topk})")
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
    from grace_edge.engine.naming import cpu_model_name, engine_name
    from grace_edge.engine.tensorrt_build import tensorrt_version

    if o.out is not None:
        return Path(o.out)
    if backend == "tensorrt":
        name = engine_name(model, o.precision, batch, imgsz, tensorrt_version() or "", gpu.name)
    else:
        name = cpu_model_name(model, o.precision, batch, imgsz)
    return Path(o.out_dir) / name


def _precision_onnx(o: BuildOptions, fp32: Path, dest: Path, cache_dir: Path, log: Callable[[str], None],
                    backend: str = "tensorrt") -> Path:
    """The graph in the requested precision, written to ``dest`` (FP32: ``fp32`` itself, checked).

    INT8 is laid out for the target: symmetric signed Q/DQ on convolution inputs for TensorRT, uint8 activations
    with quantized convolution outputs and SiLUs for the CPU runtimes (see :mod:`grace_edge.engine.quantize_cpu`)."""
    if o.precision == "fp32":
        from grace_edge.engine.precision import load_fp32

        load_fp32(fp32)  # same checks as the other precisions: readable, grace-edge metadata, FP32
        return fp32
    if o.precision == "fp16":
        from grace_edge.engine.precision import convert_fp16

        path = convert_fp16(fp32, dest)
        log("made the FP16 graph (preprocessing, box decode and NMS kept in FP32)")
        return path
    from grace_edge.engine.calibration import calibration_images
    from grace_edge.engine.quantize import quantize_int8
    from grace_edge.engine.quantize_cpu import quantize_int8_cpu

    images = calibration_images(o.data, o.calib_images)  # type: ignore[arg-type]
    if backend == "tensorrt":
        from grace_edge.engine.quantize_modelopt import modelopt_int8

        modelopt = modelopt_int8(fp32, dest, images, o.calib_method, log)  # NVIDIA's layout where ModelOpt is here
        if modelopt is not None:
            return modelopt.path
        quantize, layout = quantize_int8, "TensorRT layout: symmetric int8 Q/DQ on convolution inputs, FP32 elsewhere"
    else:
        quantize, layout = quantize_int8_cpu, ("CPU layout: uint8 activations, quantized convolution outputs and "
                                               "SiLUs, run as integer kernels by ONNX Runtime and OpenVINO")
    log(f"INT8 for {backend}: {layout}")
    log(f"calibrating INT8 ({o.calib_method}) on {len(images)} train images of {o.data}...")
    result = quantize(fp32, dest, images, method=o.calib_method, cache_dir=cache_dir)
    if result.cache_problem:
        log(f"calibration cache {result.cache_path} {result.cache_problem}: not reused, calibrated again")
    log(f"made the INT8 Q/DQ graph; calibration cache {'reused' if result.cache_hit else 'written'}: {result.cache_path}")
    return result.path


def _check_tensorrt_conformance(onnx_path: Path, backend: str, log: Callable[[str], None], notes: list[str]) -> None:
    """The TensorRT ONNX parser's rules, run before the parser sees the file, on every build.

    Building an engine, a violation is an error (TensorRT would reject the graph, or worse, build something else).
    For the CPU model it is one warning line: ONNX Runtime runs the file, but it is not one to carry to a GPU box.
    """
    from grace_edge.engine.conformance import LINES, check_file, line_for
    from grace_edge.engine.tensorrt_build import tensorrt_version

    from grace_edge.artifact import read_onnx_meta

    if backend != "tensorrt" and read_onnx_meta(onnx_path).source.get("int8_layout") == "cpu":
        log("TensorRT conformance: not checked (CPU INT8 layout, for CPU runtimes; a GPU build quantizes for TensorRT)")
        return
    lines = line_for(tensorrt_version()) if backend == "tensorrt" else LINES
    violations = check_file(onnx_path, lines)
    rules = f"TensorRT {', '.join(lines)}'s ONNX parser rules"
    if not violations:
        log(f"TensorRT conformance: the graph follows {rules}")
        return
    summary = f"{len(violations)} violation(s) of {rules}, first: {violations[0]}"
    if backend != "tensorrt":
        notes.append(f"WARNING: this CPU model would not build on TensorRT: {summary}")
        return
    for v in violations:
        log(f"TensorRT conformance: {v}")
    raise ArtifactError(f"{onnx_path.name}: TensorRT would reject this graph: {summary}")


def _gate(o: BuildOptions, fp32: Path, candidate: Path, log: Callable[[str], None], notes: list[str],
          out: Path) -> Any:
    hint = str(o.runtime.get("inference_precision", "fp32"))
    if o.precision == "fp32" and hint == "fp32":
        return None
    if not o.gate:
        notes.append("WARNING: --no-gate: the accuracy of this reduced-precision build was NOT checked")
        return None
    if o.data is None:
        notes.append("accuracy gate did not run: no --data given, so this build's accuracy was NOT checked")
        return None
    from grace_edge.engine.gate import enforce, run_gate
    from grace_edge.io import fresh_path

    label = o.precision if o.runtime.get("backend") != "openvino" else f"{o.precision} on OpenVINO ({hint} hint)"
    log(f"accuracy gate: evaluating FP32 and {label} on the val split of {o.data}...")
    report_dir = o.gate_report or fresh_path(Path("runs") / "gate" / out.stem)
    result = run_gate(fp32, candidate, o.data, label, max_map_drop=o.max_map_drop, max_images=o.gate_images,
                      runtime=o.runtime or None, report_dir=report_dir)
    log(result.summary())
    enforce(result)
    return result
