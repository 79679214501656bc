"""The one place that configures Ultralytics for offline, reproducible use.

Call :func:`configure` before importing anything from ``ultralytics``. It makes Ultralytics:
- never download (``YOLO_OFFLINE``), never pip-install (``YOLO_AUTOINSTALL=false``);
- keep its settings in a grace-edge config dir instead of the user's global one;
- find a font locally (matplotlib's DejaVu Sans, copied in as ``Arial.ttf``) instead of fetching Arial.ttf;
- report to no hub or tracker (sync and every integration off);
- use every CPU core for torch, or ``OMP_NUM_THREADS`` if set (Ultralytics resets CPU training to ``cpu_count - 1``
  threads, 1 on a 2-core box);
- never unpickle a checkpoint or a dataset label cache unsafely (:func:`grace_edge.model.safe_load.guard_ultralytics`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")
_INTEGRATIONS_OFF = {
    "sync": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "neptune": False,
    "hub": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
_configured = False
# The user's OMP_NUM_THREADS, read before Ultralytics is imported: Ultralytics sets it to cpu_count - 1 on import.
_USER_THREADS = os.environ.get("OMP_NUM_THREADS", "")


def config_dir() -> Path:
    """grace-edge's own Ultralytics config dir: ``$GRACE_EDGE_HOME/ultralytics`` (default ``~/.cache/grace-edge``)."""
    home = Path(os.environ.get("GRACE_EDGE_HOME", Path.home() / ".cache" / "grace-edge"))
    return home / "ultralytics"


def _install_fonts(directory: Path) -> None:
    missing = [name for name in _FONTS if not (directory / name).exists()]
    if not missing:
        return
    from matplotlib import font_manager  # matplotlib ships DejaVu Sans; Ultralytics depends on matplotlib

    source = Path(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    for name in missing:
        tmp = directory / f".{name}.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, directory / name)


def configure(threads: int | None = None) -> None:
    """Configure Ultralytics for offline use; safe to call many times. ``threads`` defaults to all cores."""
    global _configured
    directory = config_dir()
    if not _configured:
        directory.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("YOLO_CONFIG_DIR", str(directory))
        os.environ["YOLO_OFFLINE"] = "true"
        os.environ["YOLO_AUTOINSTALL"] = "false"
        os.environ.setdefault("YOLO_VERBOSE", "false")
        fonts_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"  # Ultralytics' USER_CONFIG_DIR
        fonts_dir.mkdir(parents=True, exist_ok=True)
        _install_fonts(fonts_dir)

        from ultralytics import utils as u_utils

        u_utils.SETTINGS.update({k: v for k, v in _INTEGRATIONS_OFF.items() if k in u_utils.SETTINGS})
        u_utils.ONLINE = False
        _configured = True
        from grace_edge.model.safe_load import guard_ultralytics

        guard_ultralytics()

    import torch
    from ultralytics.utils import torch_utils

    # OMP_NUM_THREADS, when set, wins over "all cores": on a shared machine two threads that wait on each other's
    # time slices do less work than one (a CPU training epoch cost several times its CPU time at load 24).
    env = _USER_THREADS
    n = threads or (int(env) if env.isdigit() and int(env) > 0 else 0) or os.cpu_count() or 1
    # Ultralytics' select_device() calls torch.set_num_threads(NUM_THREADS) for CPU runs: raise its value too.
    torch_utils.NUM_THREADS = n
    torch.set_num_threads(n)
