"""INT8 by NNCF's post-training quantisation (``nncf.quantize``) of the FP32 grace-edge graph, for OpenVINO.

NNCF places the Q/DQ pairs the way OpenVINO's CPU plugin fuses them (its own patterns, its own min-max/fast-bias-
correction statistics), as a QDQ ONNX graph that OpenVINO (and ONNX Runtime) load like our own INT8 graph. The
in-graph preprocessing, the box decode and the NMS are kept in float (NNCF's ignored scope: the same regions our
layouts keep float). ``benchmarks/cpu_runtime.py`` times it beside our CPU layout on OpenVINO.

NNCF is optional (``pip install nncf``); without it this module says so in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from grace_edge.errors import InputError

if TYPE_CHECKING:
    from grace_edge.data.calibration import CalibrationSet

LAYOUT = "nncf"  # ArtifactMeta.source["int8_layout"]


def import_nncf():
    try:
        import nncf
    except ImportError:
        raise InputError("NNCF post-training quantisation needs the optional nncf package: pip install nncf") from None
    return nncf


def quantize_int8_nncf(src: str | Path, out: str | Path, images: "Sequence[str | Path] | CalibrationSet", *,
                       fast_bias_correction: bool = True) -> Path:
    """Write NNCF's INT8 copy of the FP32 grace-edge ONNX ``src`` to ``out``, calibrated on ``images``."""
    nncf = import_nncf()
    from grace_edge.artifact import sha256_file
    from grace_edge.data.calibration import CalibrationReader, CalibrationSet, graph_batch
    from grace_edge.engine.precision import find_regions, load_fp32, save_with_meta

    images = images.paths if isinstance(images, CalibrationSet) else images
    if not images:
        raise InputError("INT8 needs calibration images; none were given")
    src = Path(src)
    model, meta = load_fp32(src)
    regions = find_regions(model)
    input_name = model.graph.input[0].name
    reader = CalibrationReader([Path(p) for p in images], meta, input_name, graph_batch(model))
    batches = [reader.get_next() for _ in range(len(reader))]
    import logging

    logging.getLogger("nncf").setLevel(logging.ERROR)
    quantized = nncf.quantize(
        model, nncf.Dataset(batches), subset_size=len(batches), target_device=nncf.TargetDevice.CPU,
        fast_bias_correction=fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=sorted(regions.fp32), validate=False))
    meta.precision = "int8"
    meta.source = {**meta.source, "onnx_fp32": sha256_file(src), "calib_method": "nncf minmax",
                   "calib_images": str(len(images)), "int8_layout": LAYOUT, "nncf": nncf.__version__}
    return save_with_meta(quantized, out, meta)
