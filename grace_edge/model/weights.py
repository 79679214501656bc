"""Load GRACE / YOLO11 training checkpoints (Ultralytics ``.pt``) in any process, with only grace_edge imported.

The one checkpoint loader of the package: export, evaluate, bench and train load ``.pt`` files through here."""

from __future__ import annotations

from pathlib import Path

from grace_edge.errors import ArtifactError


def load_model(path: str | Path, device: str = "cpu"):
    """The EMA model of an Ultralytics checkpoint as an FP32 ``DetectionModel`` in eval mode.

    Raises :class:`ArtifactError` if the file is missing, not a ``.pt`` checkpoint, or unreadable.
    """
    from grace_edge.model.build import register_modules
    from grace_edge.ultralytics_setup import configure

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: checkpoint not found")
    if path.suffix.lower() != ".pt":
        raise ArtifactError(f"{path}: not a PyTorch checkpoint (expected a .pt file from 'grace-edge train')")
    configure()
    register_modules()  # LiteFEN must resolve by name if Ultralytics rebuilds the model from its YAML
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    try:
        model, _ = load_checkpoint(str(path), device=device)
    except Exception as e:  # torch / pickle raise many types for a truncated or foreign file
        raise ArtifactError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None
    if not isinstance(model, DetectionModel):
        raise ArtifactError(f"{path}: holds a {type(model).__name__}, not a detection model")
    return model


def training_imgsz(path: str | Path) -> int:
    """The image size checkpoint ``path`` was trained at (its ``train_args``; Ultralytics' 640 if it records none)."""
    imgsz = (getattr(load_model(path), "args", None) or {}).get("imgsz", 640)
    return int(max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz)


def load_yolo(path: str | Path):
    """An Ultralytics ``YOLO`` on checkpoint ``path``, configured offline, after :func:`load_model` vetted the file."""
    load_model(path)  # configures Ultralytics, registers Lite-FEN, raises a clear ArtifactError for a bad file
    from ultralytics import YOLO

    try:
        return YOLO(str(path), task="detect")
    except Exception as e:  # Ultralytics raises many types for a checkpoint it cannot wrap
        raise ArtifactError(f"{path}: Ultralytics cannot load this checkpoint ({type(e).__name__}: {e})") from None


def load_weights(model, path: str | Path) -> int:
    """Copy the tensors of checkpoint ``path`` whose names and shapes match into ``model``; returns how many."""
    source = load_model(path)
    state = model.state_dict()
    matched = {k: v for k, v in source.state_dict().items() if k in state and state[k].shape == v.shape}
    if not matched:
        raise ArtifactError(f"{path}: no tensor matches the model being trained (different architecture?)")
    model.load_state_dict(matched, strict=False)
    return len(matched)
