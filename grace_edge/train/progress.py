"""Training progress a person can follow: one line per epoch and a closing summary, on stderr.

``configure()`` sets ``YOLO_VERBOSE=false``, which silences Ultralytics' own bars and tables (hundreds of lines per
epoch in a log file). Without these lines ``grace-edge train`` said nothing for hours. Each line reads::

    epoch 3/15  loss box 1.92 cls 2.41 dfl 1.55  val mAP50-95 4.1 mAP50 10.3  71 s/epoch  ETA 14 min

mAP is in points (0-100), the unit of every mAP grace-edge prints. The callbacks are module-level functions so that
they survive the pickle of a DDP launch (see ``trainer.py``); only rank 0 prints.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from grace_edge.progress import duration

MAP50_95 = "metrics/mAP50-95(B)"
MAP50 = "metrics/mAP50(B)"


def _map_text(metrics: dict[str, Any]) -> str:
    if MAP50_95 not in metrics:
        return "val skipped"
    return f"val mAP50-95 {100 * float(metrics[MAP50_95]):.1f} mAP50 {100 * float(metrics[MAP50]):.1f}"


def epoch_line(epoch: int, epochs: int, losses: dict[str, float], metrics: dict[str, Any], epoch_s: float, mean_epoch_s: float) -> str:
    """The line for finished epoch ``epoch`` (1-based) of ``epochs``; ETA from the mean epoch time so far."""
    loss = " ".join(f"{k.removesuffix('_loss')} {float(v):.3g}" for k, v in losses.items())
    eta = "" if epoch >= epochs else f"  ETA {duration(mean_epoch_s * (epochs - epoch))}"
    return f"epoch {epoch}/{epochs}  loss {loss}  {_map_text(metrics)}  {duration(epoch_s)}/epoch{eta}"


def _emit(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stderr, flush=True)


def _rank0() -> bool:
    from ultralytics.utils import RANK

    return RANK in {-1, 0}


def on_train_start(trainer: Any) -> None:
    if not _rank0():
        return
    trainer._progress = {"epoch_done": None, "best": None, "start": time.time()}
    _emit(f"training {trainer.epochs - trainer.start_epoch} epochs on {trainer.device}, {trainer.args.imgsz} px, batch {trainer.batch_size}; "
          f"run folder {trainer.save_dir}")


def on_train_epoch_end(trainer: Any) -> None:
    # Marks a real epoch: final_eval() fires on_fit_epoch_end once more (best.pt, epoch + 1) without training.
    if hasattr(trainer, "_progress"):
        trainer._progress["epoch_done"] = trainer.epoch


def on_fit_epoch_end(trainer: Any) -> None:
    state = getattr(trainer, "_progress", None)
    if state is None or state["epoch_done"] != trainer.epoch:
        return
    done = trainer.epoch - trainer.start_epoch + 1
    mean = (time.time() - trainer.train_time_start) / done
    # label_loss_items names them "train/box_loss", ...: keep the part after the slash
    items = trainer.label_loss_items(trainer.tloss) if trainer.tloss is not None else {}
    losses = {k.rpartition("/")[2]: v for k, v in items.items()}
    # Ultralytics validates every epoch unless val=False, and then only the last one; fitness is None before that.
    validated = (bool(trainer.args.val) or trainer.epoch + 1 >= trainer.epochs) and trainer.fitness is not None
    metrics = dict(trainer.metrics or {}) if validated else {}
    if MAP50_95 in metrics and (state["best"] is None or trainer.fitness >= state["best"][0]):
        state["best"] = (trainer.fitness, trainer.epoch + 1)
    _emit(epoch_line(trainer.epoch + 1, trainer.epochs, losses, metrics, trainer.epoch_time or mean, mean))
    if trainer.stop and trainer.epoch + 1 < trainer.epochs:
        _emit(f"stopping early: no val improvement for {trainer.args.patience} epochs")


def on_train_end(trainer: Any) -> None:
    state = getattr(trainer, "_progress", None)
    if state is None:
        return
    epochs = (state["epoch_done"] if state["epoch_done"] is not None else trainer.start_epoch - 1) - trainer.start_epoch + 1
    best = f", best epoch {state['best'][1]}" if state["best"] else ""
    _emit(f"trained {epochs} epochs in {duration(time.time() - state['start'])}{best}; "
          f"best.pt: {_map_text(dict(trainer.metrics or {}))} (points)")


CALLBACKS = {
    "on_train_start": on_train_start,
    "on_train_epoch_end": on_train_epoch_end,
    "on_fit_epoch_end": on_fit_epoch_end,
    "on_train_end": on_train_end,
}
