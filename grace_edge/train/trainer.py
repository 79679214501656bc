"""GRACE training: an Ultralytics ``DetectionTrainer`` that adds the Lite-FEN schedule and the DS-CBSM++ sampler.

- The model is built by :func:`grace_edge.model.build.build_model` (Lite-FEN iff the variant has it), never
  downloaded; ``--weights`` loads matching tensors from a checkpoint.
- Each epoch start sets ``s_e`` on the model and on its EMA copy (the EMA would otherwise average the buffer) and
  ``gamma_e`` on DS-CBSM++; each epoch end appends a row to ``grace_schedule.csv`` in the run dir, drawn at the end
  of training (with plots on) as ``grace_schedule.png`` with the clip bounds of s_e and of the DS-CBSM++ weights.
- With DS-CBSM++ the train loader samples images with replacement from :class:`DynamicWeightedSampler`
  (same number of samples per epoch), and Mosaic's three extra tiles are drawn from the same weights.
- ``fraction`` < 1 trains on a stratified subset (:mod:`grace_edge.train.subset`), not on the first images.
- Every checkpoint save also writes ``weights/grace_state.json`` (DS-CBSM++ EMAs, window, weights, the sampler's
  draw counter; plain JSON); ``train(resume=".../last.pt")`` continues the run with the model, optimizer and EMA
  (Ultralytics), the schedule position (the epoch) and that DS-CBSM++ state.

Multi-GPU (``device="0,1"``): Ultralytics re-launches DDP workers from a temp script that unpickles this class by
its module path and sets ``trainer.model`` to the model built here. The options travel on the model
(``model.grace_options``, a plain dict) and the callbacks are module-level functions, so both survive the
pickle. DS-CBSM++ statistics are all-reduced across ranks at every refresh. Not tested here (no GPU).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grace_edge.data.yolo_yaml import check_data_yaml
from grace_edge.errors import InputError
from grace_edge.io import write_json, write_text
from grace_edge.model.build import MODEL_NAMES, build_model, lite_fen_modules
from grace_edge.train import progress, schedule
from grace_edge.train.checks import check_labels, check_settings
from grace_edge.train.ds_cbsm import DSCBSMConfig
from grace_edge.train.protocol import PAPER_PROTOCOL, VARIANTS
from grace_edge.ultralytics_setup import configure

configure()
from ultralytics.data.build import InfiniteDataLoader  # noqa: E402
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.utils import DEFAULT_CFG, RANK  # noqa: E402
from ultralytics.utils.torch_utils import unwrap_model  # noqa: E402

from grace_edge.train.sampler import DSCBSM, draw_mosaic_tiles_from  # noqa: E402

SCHEDULE_CSV = "grace_schedule.csv"
SCHEDULE_PNG = "grace_schedule.png"  # drawn at the end of training when plots are on (clip bounds shown)
GRACE_STATE = "grace_state.json"  # beside last.pt: what Ultralytics' checkpoint does not hold


@dataclass
class GraceOptions:
    """What GRACE adds to an Ultralytics run: architecture, variant, schedules, DS-CBSM++ settings, weights."""

    model: str = "grace-s"  # size family: grace-s/yolo11s -> s, grace-n/yolo11n -> n
    variant: str = "grace"
    ramp_epochs: int = schedule.RAMP_EPOCHS
    s_base: float = schedule.S_BASE
    ds_cbsm: DSCBSMConfig = field(default_factory=DSCBSMConfig)
    weights: str | None = None  # checkpoint to initialise from (matching tensors only)

    def __post_init__(self) -> None:
        if isinstance(self.ds_cbsm, dict):
            self.ds_cbsm = DSCBSMConfig(**self.ds_cbsm)
        if self.model not in MODEL_NAMES:
            raise InputError(f"--model {self.model!r} is not one of {', '.join(MODEL_NAMES)}")
        if self.variant not in VARIANTS:
            raise InputError(f"--variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        if self.ramp_epochs < 0:
            raise InputError(f"ramp_epochs must be >= 0, got {self.ramp_epochs}")

    @property
    def sampler(self) -> bool:
        return VARIANTS[self.variant][0]

    @property
    def lite_fen(self) -> bool:
        return VARIANTS[self.variant][1]

    @property
    def architecture(self) -> str:
        """The model actually built: ``grace-<scale>`` iff the variant has Lite-FEN, else ``yolo11<scale>``."""
        scale = self.model[-1]
        return f"grace-{scale}" if self.lite_fen else f"yolo11{scale}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def for_model_name(cls, name: str) -> "GraceOptions":
        """Options implied by a bare model name: grace-* -> full GRACE, yolo11* -> baseline."""
        return cls(model=name, variant="grace" if name.startswith("grace") else "baseline")


def _on_train_epoch_start(trainer: "GraceTrainer") -> None:
    trainer.apply_schedule(trainer.epoch)


def _on_train_epoch_end(trainer: "GraceTrainer") -> None:
    if RANK in {-1, 0}:
        trainer.log_schedule(trainer.epoch)


def _on_train_end(trainer: "GraceTrainer") -> None:
    if RANK in {-1, 0} and trainer.args.plots and (trainer.save_dir / SCHEDULE_CSV).is_file():
        from grace_edge.train.schedule_plot import plot_schedule

        c = trainer.options.ds_cbsm
        plot_schedule(trainer.save_dir / SCHEDULE_CSV, trainer.save_dir / SCHEDULE_PNG, c.w_min, c.w_max)


_CALLBACKS = [("on_train_epoch_start", _on_train_epoch_start), ("on_train_epoch_end", _on_train_epoch_end),
              ("on_train_end", _on_train_end), *progress.CALLBACKS.items()]


class GraceTrainer(DetectionTrainer):
    """Ultralytics detection trainer for GRACE variants. ``options`` is None only inside a DDP worker."""

    def __init__(self, cfg=DEFAULT_CFG, overrides: dict | None = None, _callbacks: dict | None = None, options: GraceOptions | None = None):
        overrides = dict(overrides or {})
        if options is not None:
            overrides["model"] = options.architecture
        super().__init__(cfg, overrides, _callbacks)
        self._options = options
        self.ds_cbsm: DSCBSM | None = None
        self._schedule_rows: list[dict[str, Any]] = []
        for event, fn in _CALLBACKS:
            if fn not in self.callbacks[event]:  # a DDP worker receives them already in _callbacks
                self.add_callback(event, fn)
        if options is not None and not self.resume:  # build now, so a DDP launch pickles the model with its options
            self.model = self.get_model(verbose=RANK in {-1, 0})

    @property
    def options(self) -> GraceOptions:
        if self._options is None:
            stored = getattr(unwrap_model(self.model), "grace_options", None) if not isinstance(self.model, str) else None
            self._options = GraceOptions(**stored) if stored else GraceOptions.for_model_name(str(self.args.model))
        return self._options

    def get_model(self, cfg=None, weights=None, verbose: bool = True):
        """Build the variant's model for this dataset; ``weights`` (a model) or ``options.weights`` (a path) load into it."""
        opts = self.options
        names = self.data["names"]
        model = build_model(opts.architecture, nc=self.data["nc"], names=[names[i] for i in sorted(names)], verbose=verbose)
        model.grace_options = opts.to_dict()
        if weights is not None:  # resuming: the run's own weights, not the --weights it started from
            model.load(weights)
        elif opts.weights:
            from grace_edge.model.weights import load_weights

            load_weights(model, opts.weights)
        return model

    def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None):
        """Train mode with ``fraction`` < 1: Ultralytics' dataset on a stratified subset (listed in the run dir)."""
        fraction = float(self.args.fraction)
        if mode != "train" or fraction >= 1:
            return super().build_dataset(img_path, mode, batch)
        from types import SimpleNamespace

        from ultralytics.data.base import BaseDataset

        from grace_edge.train.subset import subset_files

        files = BaseDataset.get_img_files(SimpleNamespace(prefix="", fraction=1.0), img_path)  # Ultralytics' listing
        listing = Path(self.save_dir) / "train_subset.txt"
        write_text(listing, "".join(f"{os.path.abspath(f)}\n" for f in subset_files(files, fraction)))
        self.args.fraction = 1.0  # the list is the subset; restored so that checkpoints record what the user asked
        try:
            return super().build_dataset(str(listing), mode, batch)
        finally:
            self.args.fraction = fraction

    def get_dataloader(self, dataset_path: str, batch_size: int = 16, rank: int = 0, mode: str = "train"):
        loader = super().get_dataloader(dataset_path, batch_size, rank, mode)
        if mode != "train" or not self.options.sampler:
            return loader
        dataset = loader.dataset
        if self.ds_cbsm is None:
            classes = [np.asarray(lb["cls"]).reshape(-1) for lb in dataset.labels]
            self.ds_cbsm = DSCBSM(classes, self.data["nc"], self.options.ds_cbsm, seed=self.args.seed + max(rank, 0), block=batch_size)
        sampler = self.ds_cbsm.sampler
        sampler.num_samples = len(loader.sampler)  # N, or N / world_size under DDP
        sampler.block = batch_size
        draw_mosaic_tiles_from(dataset, sampler.weights)
        loader.close()
        return InfiniteDataLoader(
            dataset=dataset,
            batch_size=loader.batch_size,
            shuffle=False,
            num_workers=loader.num_workers,
            sampler=sampler,
            prefetch_factor=loader.prefetch_factor,
            pin_memory=loader.pin_memory,
            collate_fn=loader.collate_fn,
            worker_init_fn=loader.worker_init_fn,
            generator=loader.generator,
            drop_last=loader.drop_last,
        )

    def _setup_train(self):
        super()._setup_train()
        if self.ds_cbsm is not None:
            model = unwrap_model(self.model)
            if getattr(model, "criterion", None) is None:
                model.criterion = model.init_criterion()
            self.ds_cbsm.wrap_criterion(model.criterion)
            if self.resume:
                self._restore_ds_cbsm(Path(self.args.resume).parent / GRACE_STATE)
        if self.resume and (self.save_dir / SCHEDULE_CSV).is_file():  # keep the epochs before the interruption
            with open(self.save_dir / SCHEDULE_CSV, encoding="utf-8", newline="") as f:
                self._schedule_rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= self.start_epoch]

    def _restore_ds_cbsm(self, path: Path) -> None:
        """DS-CBSM++ state saved with the checkpoint being resumed (it must be from the same epoch)."""
        import json

        if not path.is_file():
            raise InputError(f"--resume: {path} not found; without it DS-CBSM++ would restart from scratch "
                             "(the checkpoint was not written by this version of grace-edge)")
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("epoch") != self.start_epoch - 1:
            raise InputError(f"--resume: {path} is from epoch {saved.get('epoch')}, the checkpoint from {self.start_epoch - 1}")
        self.ds_cbsm.load_dict(saved["ds_cbsm"])

    def save_model(self):
        """Ultralytics' checkpoints, then ``grace_state.json`` beside them (for ``--resume``)."""
        out = super().save_model()
        if RANK in {-1, 0}:
            write_json(self.wdir / GRACE_STATE, {"epoch": self.epoch, "ds_cbsm": self.ds_cbsm.to_dict() if self.ds_cbsm else None})
        return out

    def strength(self, epoch: int) -> float | None:
        """``s_e`` for ``epoch`` (None without Lite-FEN)."""
        o = self.options
        return schedule.lite_fen_strength(epoch, o.ramp_epochs, o.s_base) if o.lite_fen else None

    def apply_schedule(self, epoch: int) -> None:
        """Epoch start: ``s_e`` on the model and its EMA, ``gamma_e`` on DS-CBSM++."""
        s_e = self.strength(epoch)
        if s_e is not None:
            for m in (self.model, self.ema.ema if self.ema else None):
                for fen in lite_fen_modules(unwrap_model(m)) if m is not None else ():
                    fen.set_strength(s_e)
        if self.ds_cbsm is not None:
            o = self.options
            self.ds_cbsm.set_gamma(schedule.gamma(epoch, o.ramp_epochs, o.ds_cbsm.gamma_max))

    def log_schedule(self, epoch: int) -> None:
        """Epoch end: rewrite ``grace_schedule.csv`` (atomically) with this epoch's row added."""
        row: dict[str, Any] = {"epoch": epoch + 1, "s_e": self.strength(epoch)}
        if self.ds_cbsm is not None:
            st = self.ds_cbsm.state
            row.update(gamma=st.gamma, refreshes=st.refreshes)
            names = self.data["names"]
            for key, values in (("w", st.class_weights), ("w_base", st.w_base), ("w_dyn", st.w_dyn), ("ema_loss", st.ema_loss), ("ema_conf", st.ema_conf)):
                row.update({f"{key}/{names[c]}": float(v) for c, v in enumerate(values)})
        self._schedule_rows.append(row)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(row), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()} for r in self._schedule_rows)
        write_text(self.save_dir / SCHEDULE_CSV, text.getvalue())


def train(
    data: str | Path | None, options: GraceOptions | None = None, callbacks: dict[str, list] | None = None,
    resume: str | Path | None = None, **overrides: Any
) -> GraceTrainer:
    """Train one variant on the YOLO data YAML ``data`` and return the finished trainer (``.best``, ``.save_dir``).

    ``overrides`` are Ultralytics train settings (epochs, imgsz, batch, device, workers, project, name, ...); those
    not given follow :data:`PAPER_PROTOCOL`. ``callbacks`` maps Ultralytics events to extra functions of the
    trainer. Nothing is downloaded: the model is built from scratch unless
    ``options.weights`` names a checkpoint. ``resume`` (a ``last.pt``) continues that run with its own settings
    and options (``data`` may then be None: the run's own); ``overrides`` that Ultralytics allows on resume apply.
    """
    if resume is not None:
        return _resume(Path(resume), data, callbacks, overrides)
    data = check_data_yaml(data)
    options = options or GraceOptions()
    if options.weights and not Path(options.weights).is_file():
        raise InputError(f"--weights {options.weights}: file not found")
    args = {**PAPER_PROTOCOL, **{k: v for k, v in overrides.items() if v is not None}, "data": str(data)}
    check_settings(args)
    if options.weights:
        from grace_edge.model.weights import load_model

        load_model(options.weights)  # safe load now: a refused or broken file fails before the dataset is scanned
    check_labels(data)
    try:
        trainer = GraceTrainer(overrides=args, options=options)
    except RuntimeError as e:  # Ultralytics' check_det_dataset failures arrive as RuntimeError("Dataset ... error")
        if str(e).startswith("Dataset"):
            raise InputError(f"--data {data}: {e}") from None
        raise
    for event, functions in (callbacks or {}).items():
        for fn in functions:
            trainer.add_callback(event, fn)
    trainer.train()
    return trainer


def _resume(path: Path, data: str | Path | None, callbacks: dict[str, list] | None, overrides: dict[str, Any]) -> GraceTrainer:
    """Continue the run of checkpoint ``path`` with the options stored on its model."""
    from grace_edge.model.weights import load_model

    stored = getattr(load_model(path), "grace_options", None)  # a clear ArtifactError for a missing / bad file
    if not stored:
        raise InputError(f"--resume {path}: not a grace-edge training checkpoint (no GRACE options on the model)")
    args = {**{k: v for k, v in overrides.items() if v is not None}, "resume": str(path)}
    if data is not None:
        args["data"] = str(data)
    trainer = GraceTrainer(overrides=args, options=GraceOptions(**stored))
    for event, functions in (callbacks or {}).items():
        for fn in functions:
            trainer.add_callback(event, fn)
    trainer.train()
    return trainer
