"""Peers to time against: Ultralytics' own predictor on the same weights, as PyTorch or as its own ONNX export.

A :class:`Runner` is a name plus a ``call(images)`` that runs one batch; the CLI and ``benchmarks/`` time our
Detector and a peer interleaved in one loop (``grace_edge.bench.latency.time_interleaved``).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from grace_edge.errors import ArtifactError, InputError

PEERS = ("ultralytics", "ultralytics-onnx")


@dataclass
class Runner:
    """Something that runs one batch of images; ``close`` frees what it holds (temp files, sessions)."""

    name: str
    call: Callable[[Sequence[np.ndarray]], Any]
    info: dict[str, Any] = field(default_factory=dict)
    _cleanup: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        while self._cleanup:
            self._cleanup.pop()()

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def detector_runner(detector: Any, name: str | None = None) -> Runner:
    """Our ``Detector.detect`` as a runner (the detector stays owned by the caller)."""
    meta = detector.meta
    return Runner(
        name=name or f"grace-edge {detector.backend} {meta.precision}",
        call=detector.detect,
        info={"backend": detector.backend, "precision": meta.precision, "input": meta.input_format},
    )


def _check_weights(weights: str | Path) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise InputError(f"{path}: --weights file not found (need the .pt checkpoint the artifact was exported from)")
    if path.suffix != ".pt":
        raise InputError(f"{path}: --weights must be an Ultralytics .pt checkpoint, not {path.suffix or 'no suffix'}")
    return path


def load_yolo(weights: str | Path, *, trust: bool = False):
    """An Ultralytics ``YOLO`` on the peer's ``--weights`` (checked for the flag's sake first)."""
    from grace_edge.model.weights import load_yolo as load

    return load(_check_weights(weights), trust=trust)


def export_ultralytics_onnx(weights: str | Path, imgsz: Sequence[int], workdir: str | Path) -> Path:
    """Ultralytics' own ONNX export (FP32, batch 1, not simplified) of ``weights``, written under ``workdir``."""
    path = _check_weights(weights)
    copy = Path(workdir) / path.name  # Ultralytics writes the ONNX next to the .pt it loaded
    shutil.copyfile(path, copy)
    from grace_edge.model.safe_load import is_trusted

    model = load_yolo(copy, trust=is_trusted(path))  # the copy is as trusted (--trust-weights) as the original
    try:
        out = model.export(format="onnx", imgsz=list(imgsz), simplify=False, device="cpu", batch=1, verbose=False)
    except Exception as e:
        raise ArtifactError(f"{path}: Ultralytics' ONNX export failed ({type(e).__name__}: {e})") from None
    return Path(out)


def _ultralytics_onnx_model(weights: str | Path, imgsz: Sequence[int], cleanup: list[Callable[[], None]]):
    """``YOLO`` on Ultralytics' own ONNX export, in a temp dir that ``cleanup`` removes."""
    from grace_edge.io import owned_prefix

    workdir = tempfile.mkdtemp(prefix=owned_prefix("grace-edge-bench-"))
    try:
        source = export_ultralytics_onnx(weights, imgsz, workdir)
        from ultralytics import YOLO

        model = YOLO(str(source), task="detect")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    cleanup.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    return model


def ultralytics_runner(
    weights: str | Path,
    *,
    imgsz: Sequence[int],
    gpu: int | None = None,
    onnx: bool = False,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 100,
) -> Runner:
    """Ultralytics' ``YOLO.predict`` on the same weights: PyTorch (FP16 on GPU), or its own ONNX export.

    ``gpu`` is a CUDA device index, or None for the CPU. ``conf``/``iou``/``max_det`` should match ours so both
    run NMS on the same candidates.
    """
    cleanup: list[Callable[[], None]] = []
    if onnx:
        model, trained_imgsz = _ultralytics_onnx_model(weights, imgsz, cleanup), None
    else:
        model = load_yolo(weights)
        trained_imgsz = ((getattr(model, "ckpt", None) or {}).get("train_args") or {}).get("imgsz")
    device = str(gpu) if gpu is not None else "cpu"
    kwargs: dict[str, Any] = dict(imgsz=list(imgsz), device=device, conf=conf, iou=iou, max_det=max_det,
                                  verbose=False, save=False)
    if gpu is not None and not onnx:
        kwargs["quantize"] = 16  # Ultralytics' current name for half=True

    def call(images: Sequence[np.ndarray]) -> Any:
        return model.predict(list(images) if len(images) > 1 else images[0], **kwargs)

    name = "ultralytics-onnx" if onnx else "ultralytics"
    info = {"weights": str(weights), "device": kwargs["device"], "imgsz": list(imgsz),
            "precision": "fp16" if "quantize" in kwargs else "fp32", "runtime": "onnxruntime" if onnx else "pytorch"}
    if trained_imgsz is not None:
        info["trained_imgsz"] = trained_imgsz
    return Runner(name=name, call=call, info=info, _cleanup=cleanup)


def open_peer(kind: str, weights: str | Path | None, *, imgsz: Sequence[int], gpu: int | None, conf: float, iou: float,
              max_det: int) -> Runner:
    """The peer named by ``--compare`` (one of PEERS)."""
    if kind not in PEERS:
        raise InputError(f"--compare {kind!r}: choose one of {', '.join(PEERS)}")
    if weights is None:
        raise InputError(f"--compare {kind} needs --weights W.pt (the checkpoint the artifact was exported from)")
    return ultralytics_runner(weights, imgsz=imgsz, gpu=gpu, onnx=kind == "ultralytics-onnx", conf=conf, iou=iou,
                              max_det=max_det)
