"""The build pipeline: FP32 ONNX -> FP16 / INT8 graph -> accuracy gate -> TensorRT engine (or the CPU model).

:func:`build` is the typed API behind ``grace-edge build``; :mod:`grace_edge.engine.cli` only fills :class:`BuildOptions`.
The steps hand the model on in memory (:class:`~grace_edge.artifact.OnnxModel`, Polygraphy's loaders): the FP32 ONNX
is exported in memory or read and checked once, each step makes the next model from it, the gate runs both models as
they are, and the one file written is the artifact, at the end. What differs per target (suffix, INT8 layout, flags,
the build step) comes from the tables in :mod:`grace_edge.engine.targets` and the backend registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grace_edge.artifact import ArtifactMeta, OnnxModel
from grace_edge.data.classes import NEU_DET_IMAGE_SHAPE
from grace_edge.data.calibration import DEFAULT_CALIB_IMAGES
from grace_edge.engine.targets import CPU_FALLBACK, Choice, Target, choose_backend, choose_target, ignored_flags, precision
from grace_edge.errors import ArtifactError, InputError
from grace_edge.io import remove_stale_temp, temp_dir
from grace_edge.runtime.options import RuntimeOptions

DEFAULT_OUT_DIR = Path("engines")
__all__ = ["CPU_FALLBACK", "BuildOptions", "BuildReport", "build", "choose_backend", "parse_batch"]


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
    # The runtime that will run the artifact: picks the target (TensorRT engine or CPU model), the INT8 layout, and
    # what the accuracy gate runs on. A dict of RuntimeOptions fields is taken too (checked here, at once).
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    out: Path | None = None
    out_dir: Path = DEFAULT_OUT_DIR
    verbose: bool = False

    def __post_init__(self) -> None:
        self.runtime = RuntimeOptions.of(self.runtime)


@dataclass
class BuildReport:
    path: Path
    backend: str  # "tensorrt" | "onnxruntime"
    precision: str
    gate: Any = None  # grace_edge.evaluate.gate.GateResult when the gate ran
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


def build(options: BuildOptions, log: Callable[[str], None] = print) -> BuildReport:
    """Run the whole build; returns where the artifact went. Nothing is written if a step (or the gate) fails."""
    o = options
    _check_options(o)
    choice = choose_target(o.runtime.backend, o.require_tensorrt, probe=choose_backend)
    target = choice.target
    if o.out is not None and Path(o.out).suffix != target.suffix:
        raise InputError(f"--out {o.out}: this machine builds a {target.backend} artifact, which must end in "
                         f"{target.suffix}")
    removed = remove_stale_temp()
    if removed:
        log(f"removed {len(removed)} temp folder(s) left by killed builds: {', '.join(p.name for p in removed)}")
    notes = [choice.note()] if choice.note() else []
    with temp_dir("grace-build-") as tmp:
        fp32 = _fp32_model(o, log)
        batch = _resolve_batch(o.batch, fp32)
        out = _output_path(o, choice, fp32.meta, batch)
        candidate = _precision_model(o, fp32, target, Path(tmp), out, log)
        _check_tensorrt_conformance(candidate, target, log, notes)  # before the gate's minutes and the parser
        make_artifact, announce = _artifact_step(o, choice, candidate, batch, notes)
        gate = _gate(o, fp32, candidate, log, notes, out)
        if announce:
            log(announce)
        built = make_artifact()
    notes.extend(built.notes)
    from grace_edge.io import write_bytes

    write_bytes(out, built.data)  # the one file this build writes
    for note in notes:
        log(note)
    log(f"wrote {out}")
    return BuildReport(out, target.backend, o.precision, gate, notes)


def _artifact_step(o: BuildOptions, choice: Choice, candidate: OnnxModel, batch: tuple[int, int, int],
                   notes: list[str]) -> tuple[Callable[[], Any], str]:
    """The target's build step bound to the final model and its settings, to run once the gate has passed (the
    registered backend's ``build_artifact``, :mod:`grace_edge.runtime.backends`), and the line that announces it
    (empty when the step is quick)."""
    from functools import partial

    from grace_edge.runtime.backends import BY_NAME

    meta = ArtifactMeta.from_json(candidate.meta.to_json(), origin=candidate.origin)
    meta.batch = batch
    trt_settings = {"--workspace": o.workspace_gib, "--dla": o.dla_core, "--timing-cache": o.timing_cache}
    ignored = ignored_flags(choice.target, trt_settings)
    if ignored:
        notes.append(f"{', '.join(ignored)} apply to TensorRT only and were not used")
    backend = BY_NAME[choice.target.backend].load()
    if choice.target.name != "tensorrt":
        return partial(backend.build_artifact, candidate.proto, meta), ""  # serialising the model needs no line
    gpu = choice.gpu
    step = partial(backend.build_artifact, candidate.proto, meta, precision=o.precision, batch=batch,
                   workspace_gib=o.workspace_gib, dla_core=o.dla_core, timing_cache=o.timing_cache, verbose=o.verbose)
    return step, f"building a strongly typed TensorRT engine for {gpu.name} (compute {gpu.compute_capability})..."


def _check_options(o: BuildOptions) -> None:
    wanted = precision(o.precision)
    if o.weights is not None and o.onnx is not None:
        raise InputError("give --weights or --onnx, not both")
    export_flags = _export_flags(o)
    if o.onnx is not None and export_flags:
        raise InputError(f"{', '.join(export_flags)} with --onnx: {o.onnx} is already exported, so this would change "
                         "nothing; pass it to 'grace-edge export', or build from --weights")
    for flag, path in (("--weights", o.weights), ("--onnx", o.onnx), ("--data", o.data)):
        if path is not None and not Path(path).is_file():
            raise InputError(f"{flag} {path}: file not found")
    if wanted.needs_data and o.data is None:
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


def _fp32_model(o: BuildOptions, log: Callable[[str], None]) -> OnnxModel:
    """The FP32 model: ``--onnx`` read and checked once, or exported in memory from ``--weights`` / an untrained model."""
    if o.onnx is not None:
        return OnnxModel.read(o.onnx)
    from grace_edge.export.onnx_export import export_imgsz, export_onnx_model
    from grace_edge.export.topk import DEFAULT_TOPK

    if o.weights is not None:
        source: Any = o.weights
    else:
        from grace_edge.model.build import untrained_model

        source = untrained_model(o.model, "--weights/--onnx", "building")
    lo, opt, hi = o.batch or (1, 1, 1)
    imgsz = export_imgsz(o.weights) if o.imgsz is None else o.imgsz
    topk = DEFAULT_TOPK if o.topk is None else o.topk
    model = export_onnx_model(source, imgsz=imgsz, batch=opt, dynamic_batch=lo != hi, raw_input=o.raw_input, topk=topk)
    source_text = "raw uint8 " + "x".join(map(str, o.raw_input)) if o.raw_input else "float"
    log(f"exported the FP32 ONNX (imgsz {imgsz}, {source_text} input, NMS top-{topk})")
    return model


def _resolve_batch(wanted: tuple[int, int, int] | None, fp32: OnnxModel) -> tuple[int, int, int]:
    """The batch profile: what was asked for, checked against the ONNX (a fixed batch cannot become a range)."""
    dim0 = fp32.proto.graph.input[0].type.tensor_type.shape.dim[0]
    fixed = dim0.dim_value if dim0.HasField("dim_value") else None
    if wanted is None:
        return tuple(fp32.meta.batch)  # type: ignore[return-value]
    if fixed is not None and wanted != (fixed, fixed, fixed):
        raise InputError(f"--batch {':'.join(map(str, wanted))}: {fp32.name} has a fixed batch of {fixed}; "
                         "export it with --dynamic-batch or pass --weights to export here")
    return wanted


def _output_path(o: BuildOptions, choice: Choice, meta: ArtifactMeta, batch: tuple[int, int, int]) -> Path:
    from grace_edge.engine.naming import cpu_model_name, engine_name
    from grace_edge.engine.tensorrt_build import tensorrt_version

    if o.out is not None:
        return Path(o.out)
    imgsz = meta.imgsz[0]
    if choice.target.name == "tensorrt":
        name = engine_name(meta.model, o.precision, batch, imgsz, tensorrt_version() or "", choice.gpu.name)
    else:
        name = cpu_model_name(meta.model, o.precision, batch, imgsz)
    return Path(o.out_dir) / name


def _precision_model(o: BuildOptions, fp32: OnnxModel, target: Target, work: Path, out: Path,
                     log: Callable[[str], None]) -> OnnxModel:
    """The model in the requested precision, in memory (FP32: ``fp32`` itself, checked).

    INT8 is laid out for the target: symmetric signed Q/DQ on convolution inputs (or NVIDIA ModelOpt's layout) for
    TensorRT, uint8 activations with quantized convolution outputs and SiLUs for the CPU runtimes (see
    :mod:`grace_edge.engine.quantize_cpu`)."""
    from grace_edge.engine.precision import fp16_model, load_fp32

    if o.precision == "fp32":
        load_fp32(fp32)  # same checks as the other precisions: grace-edge metadata, FP32
        return fp32
    if o.precision == "fp16":
        model = fp16_model(fp32)
        log("made the FP16 graph (preprocessing, box decode and NMS kept in FP32)")
        return model
    return _int8_model(o, fp32, target, work / f"{out.stem}.onnx", out.parent, log)


def _int8_model(o: BuildOptions, fp32: OnnxModel, target: Target, dest: Path, cache_dir: Path,
                log: Callable[[str], None]) -> OnnxModel:
    from grace_edge.data.calibration import calibration_set
    from grace_edge.engine.quantize import quantize_int8
    from grace_edge.engine.quantize_cpu import quantize_int8_cpu

    # picked by class and checked on this graph's input now, before any quantizer's minutes
    images = calibration_set(o.data, o.calib_images, fp32.proto, fp32.meta)  # type: ignore[arg-type]
    if target.int8_layout == "tensorrt":
        from grace_edge.engine.quantize_modelopt import modelopt_int8

        modelopt = modelopt_int8(fp32, dest, images, o.calib_method, log, write=False)  # NVIDIA's layout, if here
        if modelopt is not None:
            return modelopt.model  # type: ignore[return-value]
        quantize, layout = quantize_int8, "TensorRT layout: symmetric int8 Q/DQ on convolution inputs, FP32 elsewhere"
    else:
        quantize, layout = quantize_int8_cpu, ("CPU layout: uint8 activations, quantized convolution outputs and "
                                               "SiLUs, run as integer kernels by ONNX Runtime and OpenVINO; picked "
                                               "over NNCF's layout, faster on OpenVINO but not as accurate "
                                               "(benchmarks/results/cpu_runtime_128.md)")
    log(f"INT8 for {target.backend}: {layout}")
    log(f"calibrating INT8 ({o.calib_method}) on {len(images.paths)} train images of {o.data} ({images.describe()})...")
    result = quantize(fp32, dest, images, method=o.calib_method, cache_dir=cache_dir, write=False)
    if result.cache_problem:
        log(f"calibration cache {result.cache_path} {result.cache_problem}: not reused, calibrated again")
    log(f"made the INT8 Q/DQ graph; calibration cache {'reused' if result.cache_hit else 'written'}: {result.cache_path}")
    return result.model  # type: ignore[return-value]


def _check_tensorrt_conformance(model: OnnxModel, target: Target, log: Callable[[str], None], notes: list[str]) -> None:
    """The TensorRT ONNX parser's rules, run before the parser sees the model, on every build.

    Building an engine, a violation is an error (TensorRT would reject the graph, or worse, build something else).
    For the CPU model it is one warning line: ONNX Runtime runs the file, but it is not one to carry to a GPU box.
    """
    from grace_edge.engine.conformance import LINES, check_model, line_for
    from grace_edge.engine.tensorrt_build import tensorrt_version

    engine = target.name == "tensorrt"
    if not engine and model.meta.source.get("int8_layout") == "cpu":
        log("TensorRT conformance: not checked (CPU INT8 layout, for CPU runtimes; a GPU build quantizes for TensorRT)")
        return
    lines = line_for(tensorrt_version()) if engine else LINES
    violations = check_model(model.proto, lines)
    rules = f"TensorRT {', '.join(lines)}'s ONNX parser rules"
    if not violations:
        log(f"TensorRT conformance: the graph follows {rules}")
        return
    summary = f"{len(violations)} violation(s) of {rules}, first: {violations[0]}"
    if not engine:
        notes.append(f"WARNING: this CPU model would not build on TensorRT: {summary}")
        return
    for v in violations:
        log(f"TensorRT conformance: {v}")
    raise ArtifactError(f"{model.name}: TensorRT would reject this graph: {summary}")


def _gate(o: BuildOptions, fp32: OnnxModel, candidate: OnnxModel, log: Callable[[str], None], notes: list[str],
          out: Path) -> Any:
    hint = o.runtime.inference_precision
    if not precision(o.precision).reduced and hint == "fp32":
        return None
    if not o.gate:
        notes.append("WARNING: --no-gate: the accuracy of this reduced-precision build was NOT checked")
        return None
    if o.data is None:
        notes.append("accuracy gate did not run: no --data given, so this build's accuracy was NOT checked")
        return None
    from grace_edge.evaluate.gate import enforce, run_gate
    from grace_edge.io import fresh_path

    label = o.precision if o.runtime.backend != "openvino" else f"{o.precision} on OpenVINO ({hint} hint)"
    log(f"accuracy gate: evaluating FP32 and {label} on the val split of {o.data}...")
    report_dir = o.gate_report or fresh_path(Path("runs") / "gate" / out.stem)
    # the models as they are in memory: the gate measures exactly what the next step builds from
    result = run_gate(fp32, candidate, o.data, label, max_map_drop=o.max_map_drop, max_images=o.gate_images,
                      runtime=o.runtime, report_dir=report_dir)
    log(result.summary())
    enforce(result)
    return result
