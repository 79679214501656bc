"""The one place that configures Ultralytics for offline, reproducible use.

Call :func:`configure` before importing anything from ``ultralytics``. It makes Ultralytics:
- never download (``YOLO_OFFLINE``), never pip-install (``YOLO_AUTOINSTALL=false``);
- keep its settings in a grace-edge config dir instead of the user's global one;
- find a font locally (matplotlib's DejaVu Sans, copied in as ``Arial.ttf``) instead of fetching Arial.ttf;
- report to no hub or tracker (sync and every integration off);
- use every CPU core for torch, or ``OMP_NUM_THREADS`` if set (Ultralytics resets CPU training to ``cpu_count - 1``
  threads, 1 on a 2-core box);
- never unpickle a checkpoint or a dataset label cache unsafely (:func:`grace_edge.model.safe_load.guard_ultralytics`).

The environment part is :func:`grace_edge.ultralytics_env.prepare` (a leaf module, so that safe_load needs no import
of this one).
"""

from __future__ import annotations

from grace_edge.ultralytics_env import config_dir, prepare

__all__ = ["config_dir", "configure"]


def configure(threads: int | None = None) -> None:
    """Configure Ultralytics for offline use; safe to call many times. ``threads`` defaults to all cores."""
    from grace_edge.model.safe_load import guard_ultralytics

    if prepare(threads):
        guard_ultralytics()
