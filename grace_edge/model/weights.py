"""Load GRACE / YOLO11 training checkpoints (Ultralytics ``.pt``) in any process, with only grace_edge imported.

The one checkpoint loader of the package: export, evaluate, bench and train load ``.pt`` files through here, and
never run code from them: :mod:`grace_edge.model.safe_load` unpickles with torch's ``weights_only`` loader and an
allow-list of model classes. ``trust=True`` (the ``--trust-weights`` flag) is the explicit way to load a foreign
checkpoint that needs more; that runs code from the file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from grace_edge.errors import ArtifactError
from grace_edge.model import safe_load


def _check_path(path: Path) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: checkpoint not found")
    if path.suffix.lower() != ".pt":
        raise ArtifactError(f"{path}: not a PyTorch checkpoint (expected a .pt file from 'grace-edge train')")


def _read(path: Path, trust: bool) -> dict:
    try:
        ckpt = safe_load.torch_load(path, trust=trust)
    except safe_load.UnsafeCheckpoint:
        raise
    except Exception as e:  # torch / zipfile raise many types for a truncated or foreign file
        raise ArtifactError(f"{path}: not a readable training checkpoint "
                            f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
    if not isinstance(ckpt, dict):
        raise ArtifactError(f"{path}: holds a {type(ckpt).__name__}, not an Ultralytics checkpoint dict")
    return ckpt


def load_model(path: str | Path, device: str = "cpu", *, trust: bool = False):
    """The EMA model of an Ultralytics checkpoint as an FP32 ``DetectionModel`` in eval mode.

    Raises :class:`ArtifactError` if the file is missing, not a ``.pt`` checkpoint, unreadable, or (unless
    ``trust``) refers to anything but tensors and GRACE/YOLO11 model classes.
    """
    from grace_edge.model.build import register_modules
    from grace_edge.ultralytics_setup import configure

    path = Path(path)
    _check_path(path)
    configure()
    register_modules()  # LiteFEN must resolve by name if Ultralytics rebuilds the model from its YAML
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import DEFAULT_CFG_DICT

    ckpt = _read(path, trust)
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, DetectionModel):
        raise ArtifactError(f"{path}: holds a {type(model).__name__}, not a detection model")
    # What Ultralytics' load_checkpoint does to a loaded model, without its unpickling
    model = model.float()
    model.args = {**DEFAULT_CFG_DICT, **(ckpt.get("train_args") or {})}
    model.pt_path = str(path)
    model.task = getattr(model, "task", "detect")
    if not hasattr(model, "stride"):
        import torch

        model.stride = torch.tensor([32.0])
    model = model.eval().to(device)
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = True
    return model


def training_imgsz(path: str | Path) -> int:
    """The image size checkpoint ``path`` was trained at (its ``train_args``; Ultralytics' 640 if it records none)."""
    imgsz = (getattr(load_model(path), "args", None) or {}).get("imgsz", 640)
    return int(max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz)


def load_yolo(path: str | Path, *, trust: bool = False):
    """An Ultralytics ``YOLO`` on checkpoint ``path``, configured offline, after :func:`load_model` vetted the file.

    Ultralytics reads the file again itself, through the guarded loader (:func:`safe_load.guard_ultralytics`)."""
    load_model(path, trust=trust)  # configures Ultralytics, registers Lite-FEN, raises a clear ArtifactError
    from ultralytics import YOLO

    with safe_load.trusted(path) if trust else contextlib.nullcontext():
        try:
            return YOLO(str(path), task="detect")
        except Exception as e:  # Ultralytics raises many types for a checkpoint it cannot wrap
            raise ArtifactError(f"{path}: Ultralytics cannot load this checkpoint ({type(e).__name__}: {e})") from None


def load_weights(model, path: str | Path, *, trust: bool = False) -> int:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match into ``model``; returns how many."""
    source = load_model(path, trust=trust)
    state = model.state_dict()
    matched = {k: v for k, v in source.state_dict().items() if k in state and state[k].shape == v.shape}
    if not matched:
        raise ArtifactError(f"{path}: no tensor matches the model being trained (different architecture?)")
    model.load_state_dict(matched, strict=False)
    return len(matched)
