"""Export a GRACE / YOLO11 detector to one self-contained ONNX graph (``grace-edge export``).

The graph: [uint8 camera pixels -> letterbox] -> fused model -> decoded boxes -> top-K -> Cluster-NMS ->
``detections`` [B, max_det, 6] + ``num_detections`` [B] int32, with :class:`ArtifactMeta` in its metadata.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grace_edge.artifact import (
    INPUT_NAME,
    OUTPUT_COUNT,
    OUTPUT_DETECTIONS,
    ArtifactMeta,
    OnnxModel,
    set_onnx_meta,
    sha256_file,
)
from grace_edge.data.classes import NEU_DET_IMAGE_SHAPE
from grace_edge.errors import ArtifactError, InputError
from grace_edge.export.fuse import fuse_for_inference
from grace_edge.export.postprocess import DEFAULT_NMS_ITERS, DFLExpectation, InGraphPostprocess
from grace_edge.export.preprocess import BoxesToSource, Letterbox, RawPreprocess
from grace_edge.export.topk import DEFAULT_TOPK, TRT_TOPK_MAX

LOGGER = logging.getLogger(__name__)
DEFAULT_OPSET = 17  # covers every op we emit (TopK-11, Resize-13, GatherElements-13) and TensorRT 10.3 parses it
UNTRAINED_IMGSZ = 640  # export size of an untrained model (latency only): Ultralytics' and the paper's 640
MAX_DYNAMIC_BATCH = 32  # batch profile maximum written to the metadata of a --dynamic-batch export
NEU_DET_RAW_INPUT = NEU_DET_IMAGE_SHAPE


class DetectorGraph(nn.Module):
    """What gets exported: optional raw-pixel preprocessing, the fused model, in-graph postprocessing."""

    def __init__(self, model: nn.Module, postprocess: InGraphPostprocess, letterbox: Letterbox | None, channels: int) -> None:
        super().__init__()
        self.preprocess = RawPreprocess(letterbox, channels) if letterbox else None
        self.model = model
        self.postprocess = postprocess
        self.to_source = BoxesToSource(letterbox) if letterbox else None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.preprocess(images) if self.preprocess is not None else images
        detections, count = self.postprocess(self.model(x))
        if self.to_source is not None:
            detections = self.to_source(detections)
        return detections, count


def model_name(model: nn.Module) -> str:
    """Short model name (``grace-n``, ``yolo11s``...) from the model's YAML file name."""
    yaml = getattr(model, "yaml", None) or {}
    name = Path(str(yaml.get("yaml_file", "") or "")).stem
    return name or "model"


def default_output(model: str, imgsz: int, raw_input: tuple[int, int, int] | None) -> Path:
    """``export/<model>-<imgsz>[-raw<H>x<W>x<C>].onnx`` under the current directory."""
    suffix = f"-raw{raw_input[0]}x{raw_input[1]}x{raw_input[2]}" if raw_input else ""
    return Path("export") / f"{model}-{imgsz}{suffix}.onnx"


def parse_raw_input(text: str) -> tuple[int, int, int]:
    """``"200x200x1"`` -> (200, 200, 1); channels must be 1 (gray) or 3 (BGR)."""
    parts = text.lower().split("x")
    try:
        h, w, c = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"--raw-input {text!r}: expected HEIGHTxWIDTHxCHANNELS, e.g. 200x200x1") from None
    check_raw_input((h, w, c), f"--raw-input {text!r}")
    return h, w, c


def check_raw_input(raw: tuple[int, int, int], label: str = "raw_input") -> None:
    if len(raw) != 3 or min(raw[0], raw[1]) <= 0 or raw[2] not in (1, 3):
        raise InputError(f"{label}: need positive height and width and 1 (gray) or 3 (BGR) channels, got {tuple(raw)}")


def prepare_model(model: nn.Module) -> nn.Module:
    """A fused, eval-mode copy whose Detect head returns decoded xyxy boxes + class probabilities [B, 4 + nc, A]
    (DFL decoded by :class:`DFLExpectation`)."""
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.nn.modules import C2f, Detect
    from ultralytics.nn.modules.block import DFL

    model = fuse_for_inference(model)
    heads = [m for m in model.modules() if isinstance(m, Detect)]
    if len(heads) != 1 or type(heads[0]) is not Detect:
        raise InputError("export supports detection models with one plain Detect head (YOLO11 / GRACE)")
    head = heads[0]
    if head.end2end:
        raise InputError("export expects a one-to-many (NMS) head; this model is end-to-end (NMS-free)")
    head.export, head.format, head.dynamic, head.xyxy, head.shape = True, "onnx", False, True, None
    if isinstance(head.dfl, DFL):  # same decode without Softmax(axis=1), slow on CPU (see DFLExpectation)
        head.dfl = DFLExpectation(head.dfl.c1)
    for m in model.modules():
        if isinstance(m, C2f):
            m.forward = m.forward_split  # Slice instead of Split + chunk, as Ultralytics' own exporter does
    return model


def export_imgsz(weights: str | os.PathLike[str] | None) -> int:
    """The size to export at when none is given: the checkpoint's training size (a model is most accurate at the
    size it learned), or :data:`UNTRAINED_IMGSZ` without weights."""
    if weights is None:
        return UNTRAINED_IMGSZ
    from grace_edge.model.weights import training_imgsz

    return training_imgsz(weights)


def export_onnx(
    weights_or_model: str | os.PathLike[str] | nn.Module,
    out: str | os.PathLike[str] | None = None,
    *,
    imgsz: int = 640,
    batch: int = 1,
    dynamic_batch: bool = False,
    raw_input: tuple[int, int, int] | None = NEU_DET_RAW_INPUT,
    max_det: int = 100,
    conf_thres: float = 0.001,
    iou_thres: float = 0.7,
    topk: int = DEFAULT_TOPK,
    nms_iters: int = DEFAULT_NMS_ITERS,
    simplify: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export weights (.pt path) or a DetectionModel to ``out`` (default: ``exports/<model>-<imgsz>...onnx``), a
    fused ONNX graph with in-graph NMS (see :func:`export_onnx_model` for the options); returns the path.

    ``raw_input=(H, W, C)`` makes the input uint8 [B, H, W, C] camera pixels and the boxes source pixels;
    ``raw_input=None`` makes it float32 [B, 3, imgsz, imgsz] letterboxed by the host, boxes in those pixels.
    """
    if out is not None and (Path(out).suffix.lower() != ".onnx" or Path(out).is_dir()):  # before minutes of export
        raise InputError(f"--out {out}: must be a file path ending in .onnx")
    model = export_onnx_model(weights_or_model, imgsz=imgsz, batch=batch, dynamic_batch=dynamic_batch,
                              raw_input=raw_input, max_det=max_det, conf_thres=conf_thres, iou_thres=iou_thres,
                              topk=topk, nms_iters=nms_iters, simplify=simplify, opset=opset)
    out_path = Path(out) if out is not None else default_output(model.meta.model, imgsz, raw_input)
    if out_path.suffix.lower() != ".onnx" or out_path.is_dir():
        raise InputError(f"--out {out_path}: must be a file path ending in .onnx")
    model.write(out_path)
    LOGGER.info("exported %s (%s input %s)", out_path, model.meta.input_format, model.meta.input_shape)
    return out_path


def export_onnx_model(
    weights_or_model: str | os.PathLike[str] | nn.Module,
    *,
    imgsz: int = 640,
    batch: int = 1,
    dynamic_batch: bool = False,
    raw_input: tuple[int, int, int] | None = NEU_DET_RAW_INPUT,
    max_det: int = 100,
    conf_thres: float = 0.001,
    iou_thres: float = 0.7,
    topk: int = DEFAULT_TOPK,
    nms_iters: int = DEFAULT_NMS_ITERS,
    simplify: bool = True,
    opset: int = DEFAULT_OPSET,
) -> OnnxModel:
    """Export weights (.pt path) or a DetectionModel to a fused ONNX graph with in-graph NMS, in memory and sealed
    (what ``grace-edge build`` hands on to its next step without writing it); :func:`export_onnx` writes it.

    ``raw_input=(H, W, C)`` makes the input uint8 [B, H, W, C] camera pixels and the boxes source pixels;
    ``raw_input=None`` makes it float32 [B, 3, imgsz, imgsz] letterboxed by the host, boxes in those pixels.
    """
    source: dict[str, str] = {}
    if isinstance(weights_or_model, nn.Module):
        model = weights_or_model
    else:
        from grace_edge.model.weights import load_model

        model = load_model(weights_or_model)
        source = {"weights": Path(weights_or_model).name, "weights_sha256": sha256_file(weights_or_model)}
    _check_options(model, imgsz, batch, raw_input, max_det, conf_thres, iou_thres, topk, nms_iters)
    names = [str(model.names[i]) for i in sorted(model.names)] if isinstance(model.names, dict) else list(model.names)

    net = prepare_model(model)
    letterbox = Letterbox.plan(raw_input[:2], (imgsz, imgsz)) if raw_input else None
    post = InGraphPostprocess(len(names), max_det, conf_thres, iou_thres, topk, nms_iters, box_scale=float(imgsz))
    graph = DetectorGraph(net, post, letterbox, raw_input[2] if raw_input else 3).eval()
    if raw_input:
        example = torch.zeros((batch, *raw_input), dtype=torch.uint8)
        input_format, input_shape = "uint8_nhwc", tuple(raw_input)
    else:
        example = torch.zeros((batch, 3, imgsz, imgsz), dtype=torch.float32)
        input_format, input_shape = "float32_nchw", (3, imgsz, imgsz)

    meta = ArtifactMeta(
        names=names,
        imgsz=(imgsz, imgsz),
        input_format=input_format,
        input_shape=input_shape,
        max_det=max_det,
        conf_thres=conf_thres,
        iou_thres=iou_thres,
        precision="fp32",
        batch=(1, batch, max(batch, MAX_DYNAMIC_BATCH)) if dynamic_batch else (batch, batch, batch),
        model=model_name(model),
        source=source,
    )
    onnx_model = to_onnx_model(graph, example, opset, dynamic_batch)
    if simplify:
        onnx_model = _simplify(onnx_model, example)
    _set_metadata(onnx_model, meta, topk, nms_iters)
    _check(onnx_model)
    return OnnxModel(onnx_model, meta, f"the FP32 export of {source.get('weights', meta.model)}")


def _check_options(
    model: nn.Module,
    imgsz: int,
    batch: int,
    raw_input: tuple[int, int, int] | None,
    max_det: int,
    conf_thres: float,
    iou_thres: float,
    topk: int,
    nms_iters: int,
) -> None:
    stride = int(max(getattr(model, "stride", torch.tensor([32.0])).tolist()))
    problems = []
    if imgsz <= 0 or imgsz % stride:
        problems.append(f"imgsz {imgsz} must be a positive multiple of the model stride {stride}")
    if batch < 1:
        problems.append(f"batch {batch} must be at least 1")
    if not 1 <= max_det <= topk:
        problems.append(f"max_det {max_det} must be between 1 and topk {topk}")
    if not 1 <= topk <= TRT_TOPK_MAX:
        problems.append(f"topk {topk} must be between 1 and {TRT_TOPK_MAX} (TensorRT's TopK limit)")
    if nms_iters < 1:
        problems.append(f"nms_iters {nms_iters} must be at least 1")
    if not 0.0 <= conf_thres < 1.0:
        problems.append(f"conf {conf_thres} must be in [0, 1)")
    if not 0.0 < iou_thres <= 1.0:
        problems.append(f"iou {iou_thres} must be in (0, 1]")
    if not getattr(model, "names", None):
        problems.append("the model has no class names")
    if problems:
        raise InputError("export: " + "; ".join(problems))
    if raw_input is not None:
        check_raw_input(tuple(raw_input))


def to_onnx_model(graph: nn.Module, example: torch.Tensor, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False) -> Any:
    """Trace ``graph`` on ``example`` into an in-memory ONNX model (input ``images``, our two outputs)."""
    import io

    import onnx

    dynamic = {INPUT_NAME: {0: "batch"}, OUTPUT_DETECTIONS: {0: "batch"}, OUTPUT_COUNT: {0: "batch"}}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes: every shape here is static
        torch.onnx.export(
            graph,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_DETECTIONS, OUTPUT_COUNT],
            dynamic_axes=dynamic if dynamic_batch else None,
            do_constant_folding=True,
        )
    return onnx.load_from_string(buffer.getvalue())


def _simplify(model: Any, example: torch.Tensor) -> Any:
    """onnxsim's simplified graph if it builds and gives the same outputs as ``model`` on a random input, else ``model``."""
    try:
        import onnxsim

        simplified, ok = onnxsim.simplify(model)
    except Exception as e:  # onnxsim fails on some graphs; the unsimplified graph is still correct
        warnings.warn(f"onnxsim failed ({type(e).__name__}: {e}); keeping the unsimplified graph", stacklevel=3)
        return model
    if not ok or not _same_outputs(model, simplified, example):
        warnings.warn("onnxsim's simplified graph failed its check; keeping the unsimplified graph", stacklevel=3)
        return model
    return simplified


def _same_outputs(a: Any, b: Any, example: torch.Tensor) -> bool:
    import numpy as np
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(0)
    if example.dtype == torch.uint8:
        x = torch.randint(0, 256, example.shape, dtype=torch.uint8, generator=generator).numpy()
    else:
        x = torch.rand(example.shape, generator=generator).numpy()
    (rows_a, count_a), (rows_b, count_b) = (
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x})
        for m in (a, b)
    )
    return np.array_equal(count_a, count_b) and np.allclose(rows_a, rows_b, rtol=1e-4, atol=1e-3)


def _set_metadata(model: Any, meta: ArtifactMeta, topk: int, nms_iters: int) -> None:
    model.producer_name = "grace-edge"
    set_onnx_meta(model, meta, nms=f"cluster-nms topk={topk} iters={nms_iters}")  # last: it seals the model


def _check(model: Any) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise ArtifactError(f"exported graph failed the ONNX checker: {e}") from None
