"""The TensorRT INT8 graph made by NVIDIA ModelOpt's ONNX PTQ: Q/DQ where TensorRT fuses them, FP16 around them.

Why not ONNX Runtime's layout (:mod:`grace_edge.engine.quantize`) for TensorRT: that graph is FP32 outside its Q/DQ
pairs and TensorRT builds it strongly typed, so every unquantized layer (SiLU, Lite-FEN gates, upsample/concat
boundaries) runs in true FP32 and the INT8 engine can be slower than the FP16 one. ModelOpt places Q/DQ by
TensorRT's fusion rules and converts the rest to FP16. The preprocessing, the head's output convolutions, the box
decode and NMS are left out of quantization as in the other layouts, and preprocessing, decode and NMS stay FP32
(see :mod:`grace_edge.engine.modelopt_worker`).

Where ModelOpt runs: in this process when ``modelopt`` imports here (``pip install 'grace-edge[modelopt]'`` in an
environment of its own), else in the venv named by ``GRACE_MODELOPT_ENV`` or ``.venv-modelopt`` (made by
``.ci/modelopt_env.sh``) through a subprocess. A subprocess by default because ModelOpt's ``[onnx]`` extra pins an
onnxruntime-gpu and cupy that would replace this environment's onnxruntime (the CPU runtime and the accuracy gate);
calibration uses ONNX Runtime's CPU execution provider either way, so no GPU is needed to quantize.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from grace_edge.artifact import OnnxModel
from grace_edge.data.calibration import CalibrationReader, CalibrationSet
from grace_edge.engine.precision import find_regions, load_fp32, source_digest
from grace_edge.engine.quantize import QuantizeResult
from grace_edge.errors import ArtifactError, BackendUnavailable, InputError
from grace_edge.io import temp_dir

LAYOUT = "modelopt"  # ArtifactMeta.source["int8_layout"]
ENV_VAR = "GRACE_MODELOPT_ENV"
DEFAULT_ENV = ".venv-modelopt"
WORKER = Path(__file__).with_name("modelopt_worker.py")
METHODS = ("entropy", "minmax")  # what ModelOpt calibrates with (its "entropy" and "max")
INSTALL_HINT = (f"make its venv with 'bash .ci/modelopt_env.sh' (or set {ENV_VAR} to a venv with "
                "nvidia-modelopt[onnx] 0.47), or pip install 'grace-edge[modelopt]' in an environment of its own")
TIMEOUT_S = 3600


def modelopt_python() -> list[str] | None:
    """How to run the worker: [] for this process (modelopt imports here), a venv's python, or None if none."""
    try:
        import modelopt.onnx.quantization  # noqa: F401
    except ImportError:
        pass
    else:
        return []
    named = os.environ.get(ENV_VAR)
    candidates = [Path(named)] if named else [Path.cwd() / DEFAULT_ENV, Path(__file__).resolve().parents[2] / DEFAULT_ENV]
    for env in candidates:
        python = env / "bin" / "python"
        if python.is_file():
            return [str(python)]
    if named:
        raise BackendUnavailable(f"{ENV_VAR}={named}: no bin/python there; {INSTALL_HINT}")
    return None


def available() -> bool:
    return modelopt_python() is not None


def quantize_int8_modelopt(
    src: "str | Path | OnnxModel", out: str | Path, images: "Sequence[str | Path] | CalibrationSet", *,
    method: str = "entropy", write: bool = True,
) -> QuantizeResult:
    """Write ModelOpt's INT8 Q/DQ copy of the FP32 grace-edge ONNX ``src`` to ``out``, calibrated on ``images``
    (``write=False``: keep it in memory, ``result.model``)."""
    if method not in METHODS:
        raise InputError(f"--calib-method {method!r}: ModelOpt calibrates with {' or '.join(METHODS)}")
    images = images.paths if isinstance(images, CalibrationSet) else images  # fed as one array to its worker
    if not images:
        raise InputError("INT8 needs calibration images; none were given")
    python = modelopt_python()
    if python is None:
        raise BackendUnavailable(f"NVIDIA ModelOpt is not available; {INSTALL_HINT}")
    out = Path(out)
    model, meta = load_fp32(src)  # names every node: the exclusion lists address nodes by name
    regions = find_regions(model)
    with temp_dir("grace-modelopt-") as tmp:
        work = Path(tmp)
        import numpy as np
        import onnx

        onnx.save(model, str(work / "fp32.onnx"))
        input_name = model.graph.input[0].name
        reader = CalibrationReader([Path(p) for p in images], meta, input_name)
        np.save(work / "calib.npy", reader.load(reader.images))
        request = {
            "onnx": str(work / "fp32.onnx"), "calibration": str(work / "calib.npy"), "input": input_name,
            "method": method, "exclude": sorted(regions.fp32 | regions.head_outputs),
            "keep_fp32": sorted(regions.fp32), "out": str(work / "int8.onnx"), "report": str(work / "report.json"),
        }
        report = _run_worker(python, request, work)
        result = onnx.load(request["out"])
    meta.precision = "int8"
    meta.source = {**meta.source, "onnx_fp32": source_digest(src), "calib_method": method,
                   "calib_images": str(len(images)), "int8_layout": LAYOUT, "modelopt": str(report["modelopt"])}
    int8 = OnnxModel.made(result, meta, str(out))  # ModelOpt drops the metadata; the runtime needs it back
    if write:
        int8.write(out)
    return QuantizeResult(out, out, False, len(images), len(request["exclude"]), model=int8)  # no cache: ModelOpt calibrates


def _run_worker(python: list[str], request: dict, work: Path) -> dict:
    """Run :mod:`modelopt_worker` in this process or in ModelOpt's venv; its report, or one clear error."""
    if not python:
        from grace_edge.engine import modelopt_worker

        return modelopt_worker.quantize(request)
    path = work / "request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)  # the venv's own packages only: never this environment's onnx/onnxruntime
    try:
        done = subprocess.run([*python, str(WORKER), str(path)], capture_output=True, text=True, env=env,
                              timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ArtifactError(f"NVIDIA ModelOpt did not finish within {TIMEOUT_S} s ({python[0]})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ArtifactError(f"NVIDIA ModelOpt failed to quantize ({python[0]}, exit {done.returncode}): {last}")
    return json.loads(Path(request["report"]).read_text(encoding="utf-8"))


def modelopt_int8(src: "Path | OnnxModel", out: Path, images: "Sequence[Path] | CalibrationSet", method: str,
                  log: Callable[[str], None], write: bool = True) -> QuantizeResult | None:
    """The TensorRT INT8 graph by ModelOpt when it is available here and calibrates with ``method``; else None (the
    caller makes ONNX Runtime's layout), after saying why in one line."""
    if method not in METHODS or not available():
        why = (f"--calib-method {method} is not one of ModelOpt's ({', '.join(METHODS)})" if method not in METHODS
               else f"NVIDIA ModelOpt is not available ({INSTALL_HINT})")
        log(f"INT8 for tensorrt: {why}; using ONNX Runtime's layout, FP32 outside its Q/DQ pairs, which on a GPU can "
            "make the INT8 engine slower than the FP16 one")
        return None
    log("INT8 for tensorrt: NVIDIA ModelOpt layout: Q/DQ where TensorRT fuses them, FP16 elsewhere (preprocessing, "
        "decode and NMS FP32)")
    log(f"calibrating INT8 ({method}) with ModelOpt on ONNX Runtime's CPU provider, "
        f"{len(getattr(images, 'paths', images))} train images...")
    result = quantize_int8_modelopt(src, out, images, method=method, write=write)
    log(f"made the INT8 Q/DQ graph with NVIDIA ModelOpt ({result.excluded_nodes} nodes left unquantized)")
    return result
