"""INT8 ONNX with explicit Q/DQ: ranges calibrated on real images with ONNX Runtime's calibrators, then Q/DQ
inserted by ``quantize_static`` (QDQ format) from those ranges.

What TensorRT needs from the graph (it builds it strongly typed, taking the Q/DQ scales as they are):
- signed INT8, symmetric, zero point 0, for activations and weights;
- per-channel (axis 0) convolution weights, per-tensor activations;
- no quantized bias (TensorRT fuses the float bias itself);
- Q/DQ on convolution inputs, not outputs (so TensorRT fuses conv + SiLU).
Left in float: the in-graph preprocessing, the decode + postprocess (see :mod:`grace_edge.engine.precision`) and, by
default, the last convolution of each head branch (box/class outputs), which costs the most accuracy for a small
share of the runtime (Ultralytics' ModelOpt export keeps them in float for the same reason).

The calibration cache (the tensor ranges) is stored next to the output, named by a SHA-256 over the FP32 model
bytes, every calibration image (sorted names + bytes) and the settings, so a change to any of them misses the cache.
It is ONNX Runtime's JSON plus a ``grace_edge`` seal: that full key and a SHA-256 of the rest of the file. A cache is
reused only if it parses, has ONNX Runtime's schema with finite ranges, and matches its seal; anything else (not
JSON, truncated, another schema, edited ranges) is reported in one line naming the file and calibrated again.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from grace_edge.artifact import OnnxModel
from grace_edge.data.calibration import CalibrationSet, checked_set
from grace_edge.engine.precision import find_regions, load_fp32, source_digest
from grace_edge.errors import InputError
from grace_edge.io import temp_dir, write_text

if TYPE_CHECKING:
    import onnx

CALIB_METHODS = ("entropy", "percentile", "minmax")
# Inputs of these ops get Q/DQ. Conv carries the compute; Add/Concat/MaxPool keep tensors INT8 between convolutions
# so that TensorRT does not reformat to float and back at every residual and concat.
INT8_OP_TYPES = ("Conv", "Add", "Concat", "MaxPool")
# TensorRT's Q/DQ placement advice: quantize the inputs of convolutions, not their outputs, so that the conv fuses
# with its SiLU and the pre-activation value is not rounded to INT8 on top of the post-activation one.
NO_OUTPUT_QDQ = ("Conv",)
PERCENTILE = 99.999
CACHE_SEAL = "grace_edge"  # top-level key of our seal in ONNX Runtime's cache JSON (ONNX Runtime ignores it)
CALIB_STRIDE = 4  # batches per calibration pass: bounds the memory of the collected activations (~2 GB, GRACE-s 640)


def _method(name: str) -> Any:
    """ONNX Runtime's CalibrationMethod for one of CALIB_METHODS."""
    from onnxruntime.quantization import CalibrationMethod

    return getattr(CalibrationMethod, {"entropy": "Entropy", "percentile": "Percentile", "minmax": "MinMax"}[name])


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    cache_path: Path
    cache_hit: bool
    images: int
    excluded_nodes: int
    cache_problem: str | None = None  # why an existing cache was not reused (it was calibrated again)
    model: OnnxModel | None = None  # the INT8 model in memory, unsealed until written (what the build hands on)


def settings(method: str, exclude_head_outputs: bool, op_types: Sequence[str] = INT8_OP_TYPES) -> dict[str, object]:
    """Everything besides model and images that changes the calibration or the quantized graph."""
    import onnxruntime

    return {
        "method": method,
        "percentile": PERCENTILE if method == "percentile" else None,
        "symmetric": True,
        "per_channel": True,
        "quantize_bias": False,
        "op_types": sorted(op_types),
        "no_output_qdq": sorted(NO_OUTPUT_QDQ),
        "exclude_head_outputs": exclude_head_outputs,
        "onnxruntime": onnxruntime.__version__,
        "format": 1,
    }


def calibration_key(model: "str | Path | OnnxModel", images: Sequence[str | Path], config: dict[str, object]) -> str:
    """SHA-256 over the model bytes, the images (sorted by name; name + bytes) and the settings."""
    h = hashlib.sha256()
    h.update(b"model\0" + (model.data if isinstance(model, OnnxModel) else Path(model).read_bytes()))
    for image in sorted(Path(p) for p in images):
        h.update(b"\0image\0" + image.name.encode() + b"\0")
        try:
            h.update(image.read_bytes())
        except OSError as e:
            raise InputError(f"calibration image {image}: cannot be read ({e.strerror})") from None
    h.update(b"\0settings\0" + json.dumps(config, sort_keys=True).encode())
    return h.hexdigest()


def cache_path_for(out: Path, key: str, cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or out.parent) / f"{out.stem}.calib-{key[:16]}.json"


def _cache_digest(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != CACHE_SEAL}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal_cache(cache: Path, key: str) -> None:
    """Add the ``grace_edge`` seal (calibration key + SHA-256 of the ranges) to the cache ONNX Runtime wrote."""
    data = json.loads(cache.read_text(encoding="utf-8"))
    data[CACHE_SEAL] = {"key": key, "sha256": _cache_digest(data)}
    write_text(cache, json.dumps(data))


def _is_range(v: Any) -> bool:
    if isinstance(v, dict) and v.get("CLS") == "numpy.array":
        v = v.get("data")
        v = v[0] if isinstance(v, list) and len(v) == 1 else v
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _schema_problem(data: Any, method: str) -> str | None:
    if not isinstance(data, dict) or data.get("CLS") != "TensorsData":
        return "not an ONNX Runtime TensorsData object"
    want = f"CalibrationMethod.{_method(method).name}"
    if data.get("calibration_method") != {"CLS": "CalibrationMethod", "value": want}:
        return f"calibration_method is {json.dumps(data.get('calibration_method'))[:80]}, expected {want}"
    tensors = data.get("data")
    if not isinstance(tensors, dict) or not tensors:
        return "no tensor ranges"
    for name, entry in tensors.items():
        if not isinstance(entry, dict) or not _is_range(entry.get("lowest")) or not _is_range(entry.get("highest")):
            return f"tensor {name!r} has no finite lowest/highest range"
    return None


def cache_problem(cache: Path, key: str, method: str) -> str | None:
    """None if ``cache`` may be reused for calibration ``key``; else what is wrong with it (one line)."""
    try:
        data = json.loads(cache.read_bytes())
    except OSError as e:
        return f"cannot be read ({e.strerror or type(e).__name__})"
    except ValueError:
        return "is not JSON (truncated or corrupt)"
    problem = _schema_problem(data, method)
    if problem:
        return f"has the wrong schema ({problem})"
    seal = data.get(CACHE_SEAL)
    if not isinstance(seal, dict) or seal.get("key") != key:
        return "is not sealed for this model, these images and settings"
    if seal.get("sha256") != _cache_digest(data):
        return "has ranges that do not match their SHA-256 (edited or corrupt)"
    return None


def use_cache(cache: Path, key: str, method: str, calibrate: Callable[[], None]) -> tuple[bool, str | None]:
    """Reuse ``cache`` if intact and sealed for ``key``, else ``calibrate()`` (which writes it) and seal it.
    Returns (reused, why an existing cache was not reused)."""
    problem = cache_problem(cache, key, method) if cache.exists() else None
    if cache.exists() and problem is None:
        return True, None
    calibrate()
    seal_cache(cache, key)
    return False, problem


def quantize_int8(
    src: "str | Path | OnnxModel",
    out: str | Path,
    images: "Sequence[str | Path] | CalibrationSet",
    *,
    method: str = "entropy",
    exclude_head_outputs: bool = True,
    cache_dir: str | Path | None = None,
    write: bool = True,
) -> QuantizeResult:
    """Write an INT8 Q/DQ copy of the FP32 grace-edge ONNX ``src`` to ``out``, calibrated on ``images``
    (``write=False``: keep it in memory, ``result.model``; ``out`` still names the calibration cache)."""
    return quantize_with(
        src, out, images, method=method, exclude_head_outputs=exclude_head_outputs, cache_dir=cache_dir, write=write,
        config=settings(method, exclude_head_outputs), op_types=INT8_OP_TYPES, unsigned_activations=False,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                       "OpTypesToExcludeOutputQuantization": list(NO_OUTPUT_QDQ)},
    )


def quantize_with(
    src: "str | Path | OnnxModel",
    out: str | Path,
    images: "Sequence[str | Path] | CalibrationSet",
    *,
    method: str,
    exclude_head_outputs: bool,
    cache_dir: str | Path | None,
    config: dict[str, object],
    op_types: Sequence[str],
    unsigned_activations: bool,
    extra_options: dict[str, Any],
    exclude: Callable[[onnx.ModelProto], set[str]] | None = None,
    source: dict[str, str] | None = None,
    rewrite: Callable[[onnx.ModelProto], None] | None = None,
    finish: Callable[[onnx.ModelProto], None] | None = None,
    write: bool = True,
) -> QuantizeResult:
    """The steps every INT8 layout shares: checks, regions kept float, keyed calibration cache (ranges collected on
    ``op_types``; asymmetric for unsigned activations), ``quantize_static`` in QDQ format with per-channel int8
    weights, metadata. A layout gives its ``config`` (cache key), op types, activation sign and ORT options;
    ``exclude`` adds nodes to keep float, ``source`` adds metadata; ``rewrite`` edits the FP32 graph before it is
    calibrated and quantized, ``finish`` the quantized graph before it is saved (both in place, exact rewrites)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if method not in CALIB_METHODS:
        raise InputError(f"--calib-method {method!r}: choose one of {', '.join(CALIB_METHODS)}")
    src, out = src if isinstance(src, OnnxModel) else Path(src), Path(out)
    model, meta = load_fp32(src)
    # the build hands a CalibrationSet already checked on this graph; a plain list of paths is checked here
    calib = images if isinstance(images, CalibrationSet) else checked_set(list(images), model, meta)
    if rewrite:
        rewrite(model)
    regions = find_regions(model)
    excluded = set(regions.fp32) | (set(regions.head_outputs) if exclude_head_outputs else set())
    excluded |= exclude(model) if exclude else set()
    key = calibration_key(src, calib.paths, config)
    cache = cache_path_for(out, key, cache_dir)
    cache_hit, problem = use_cache(cache, key, method, lambda: _calibrate(
        model, calib, method, regions.head_outputs, cache, op_types=op_types,
        symmetric=not unsigned_activations))
    with temp_dir("grace-int8-") as tmp:
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(
            model,
            str(quantized),
            None,  # the ranges come from the cache written above
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QUInt8 if unsigned_activations else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=sorted(excluded),
            calibrate_method=_method(method),
            extra_options=extra_options,
            calibration_cache_path=str(cache),
        )
        import onnx

        result = onnx.load(str(quantized))
    if finish:
        finish(result)
    meta.precision = "int8"
    meta.source = {**meta.source, "onnx_fp32": source_digest(src), "calibration": key, "calib_method": method,
                   "calib_images": str(len(calib.paths)), **(source or {})}
    int8 = OnnxModel.made(result, meta, str(out))  # sealed once: when written, or by the backend that builds it
    if write:
        int8.write(out)
    return QuantizeResult(out, cache, cache_hit, len(calib.paths), len(excluded), problem, int8)


def _calibrate(
    model: onnx.ModelProto, calib: CalibrationSet, method: str, head_outputs: frozenset[str],
    cache: Path, op_types: Sequence[str] = INT8_OP_TYPES, symmetric: bool = True,
) -> None:
    """Collect the tensor ranges on the graph cut after the head's last convolutions; save them to ``cache``.

    The decode and postprocess stay float, so they need no ranges; cutting them off also keeps their near-constant
    tensors (anchors, NMS masks) away from the histogram calibrators, which fail on them.
    """
    import onnx
    from onnx.utils import Extractor
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    input_name = model.graph.input[0].name
    stops = sorted(o for n in model.graph.node if n.name in head_outputs for o in n.output)
    reader = calib.reader()
    options = {"symmetric": symmetric, "percentile": PERCENTILE}
    with temp_dir("grace-calib-") as tmp:
        body = Path(tmp) / "body.onnx"
        onnx.save(Extractor(model).extract_model([input_name], stops), str(body))
        calibrator = create_calibrator(body, list(op_types), str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=_method(method), extra_options=options)
        if method == "percentile":
            calibrator.collector = _zero_anchored_collector(calibrator)
        from grace_edge.progress import Progress

        progress = Progress("calibration", len(reader), unit="batches")
        for start in range(0, len(reader), CALIB_STRIDE):
            reader.set_range(start, start + CALIB_STRIDE)
            calibrator.collect_data(reader)
            progress.update(min(CALIB_STRIDE, len(reader) - start))
        ranges = calibrator.compute_data()
        del calibrator
    save_tensors_data(ranges, cache)  # atomic (temp file + os.replace)


def _zero_anchored_collector(calibrator: Any) -> Any:
    """ONNX Runtime's percentile collector, with every tensor's |x| histogram starting at 0.

    It bins |x| over [min |x|, max |x|] in 2048 bins, which numpy refuses for a near-constant tensor (e.g. a
    Lite-FEN spatial map, or most tensors of an untrained model: "Too many bins for data range"). One extra 0 per
    collection pass anchors the range at 0; among thousands of values it does not move the 99.999th percentile.
    """
    import numpy as np
    from onnxruntime.quantization.calibrate import HistogramCollector

    class ZeroAnchored(HistogramCollector):
        def collect(self, name_to_arr: dict[str, Any]) -> Any:
            anchored = {}
            for name, arrays in name_to_arr.items():
                arrays = arrays if isinstance(arrays, list) else [arrays]
                flat = [np.asarray(a).ravel() for a in arrays]
                anchored[name] = np.concatenate([*flat, np.zeros(1, dtype=flat[0].dtype)])
            return super().collect(anchored)

    c = calibrator
    return ZeroAnchored(c.method, c.symmetric, c.num_bins, c.num_quantized_bins, c.percentile, c.scenario)
