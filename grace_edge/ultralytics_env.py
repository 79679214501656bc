"""The environment half of :func:`grace_edge.ultralytics_setup.configure` (offline, own config dir, local fonts,
integrations off, torch threads), without the checkpoint guard.

A module of its own so that ``model/safe_load.py``, which must configure Ultralytics before it imports the
allow-listed classes, does not import ``ultralytics_setup``, which imports safe_load for the guard: that was an
import cycle (issue 18 item 6). Everything else calls ``ultralytics_setup.configure``.
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


def prepare(threads: int | None = None) -> bool:
    """Everything :func:`grace_edge.ultralytics_setup.configure` does but the checkpoint guard; safe to call many
    times. ``threads`` defaults to all cores. True on the call that first configured Ultralytics."""
    global _configured
    first = not _configured
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

    import torch
    from ultralytics.utils import torch_utils

    # OMP_NUM_THREADS, when set, wins over "all cores": on a shared machine two threads that wait on each other's
    # time slices do less work than one (a CPU training epoch cost several times its CPU time at load 24).
    env = _USER_THREADS
    n = threads or (int(env) if env.isdigit() and int(env) > 0 else 0) or os.cpu_count() or 1
    # Ultralytics' select_device() calls torch.set_num_threads(NUM_THREADS) for CPU runs: raise its value too.
    torch_utils.NUM_THREADS = n
    torch.set_num_threads(n)
    return first
