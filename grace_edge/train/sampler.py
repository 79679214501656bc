"""DS-CBSM++ in torch: per-class statistics from the loss, and a weighted sampler whose weights change mid-epoch.

The statistics come from Ultralytics' ``v8DetectionLoss``: its ``bce`` module (``BCEWithLogitsLoss(reduction="none")``,
called once per mini-batch as ``bce(pred_scores, target_scores)`` with shapes ``[B, anchors, nc]``) is wrapped by
:class:`ClassStatsRecorder`, which returns the same loss and, without gradient, sums per class over the assigned
positives (anchors whose target row is non-zero, class = argmax of the row): the BCE of the assigned class channel
(the gradient surrogate ``g_c``) and its sigmoid confidence (counted only when >= ``conf_floor``). Sums stay on the
device; they are copied to the host once per ``refresh_every`` batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Sampler

from grace_edge.errors import InputError
from grace_edge.train.ds_cbsm import ClassBalanceState, DSCBSMConfig, class_counts, image_weights


def batch_class_stats(
    logits: torch.Tensor, target_scores: torch.Tensor, bce: torch.Tensor, conf_floor: float
) -> torch.Tensor:
    """Per-class sums for one mini-batch: ``[4, nc]`` = loss sum, loss count, confidence sum, confidence count."""
    nc = logits.shape[-1]
    with torch.no_grad():
        target = target_scores.reshape(-1, nc)
        positive = target.amax(-1) > 0
        cls = target.argmax(-1)[positive]
        rows = positive.nonzero().squeeze(1)
        loss = bce.reshape(-1, nc)[rows, cls].float()
        conf = logits.reshape(-1, nc)[rows, cls].float().sigmoid()
        counted = (conf >= conf_floor).float()
        out = torch.zeros(4, nc, device=logits.device)
        out[0].index_add_(0, cls, loss)
        out[1].index_add_(0, cls, torch.ones_like(loss))
        out[2].index_add_(0, cls, conf * counted)
        out[3].index_add_(0, cls, counted)
    return out


class DynamicWeightedSampler(Sampler[int]):
    """Weighted random sampling with replacement, ``num_samples`` per epoch, reading the weights as it goes.

    Indices are drawn ``block`` at a time from the current weights, so a weight refresh in the middle of an epoch
    affects every block drawn after it (the DataLoader draws a few batches ahead of training).
    """

    def __init__(self, weights: Sequence[float] | np.ndarray, num_samples: int | None = None, block: int = 16, seed: int = 0):
        # shared memory, updated in place: data-loader workers that draw Mosaic tiles (MosaicTiles) see each refresh
        self.weights = self._check(weights).share_memory_()
        self.num_samples = int(num_samples if num_samples is not None else len(self.weights))
        self.block = max(int(block), 1)
        self.seed = int(seed)
        self.epoch = 0

    @staticmethod
    def _check(weights: Sequence[float] | np.ndarray) -> torch.Tensor:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        if w.ndim != 1 or w.numel() == 0 or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise InputError("sampler weights must be a non-empty 1-D array of finite values >= 0 with a positive sum")
        return w

    def set_weights(self, weights: Sequence[float] | np.ndarray) -> None:
        """Replace the per-image weights (same length); used from the next block drawn on."""
        w = self._check(weights)
        if w.numel() != self.weights.numel():
            raise InputError(f"sampler got {w.numel()} weights for {self.weights.numel()} images")
        self.weights.copy_(w)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1  # a new draw each pass even if nobody calls set_epoch (Ultralytics does not without DDP)
        left = self.num_samples
        while left > 0:
            n = min(self.block, left)
            yield from torch.multinomial(self.weights, n, replacement=True, generator=g).tolist()
            left -= n


class MosaicTiles:
    """``Mosaic.get_indexes`` drawing its extra tiles from the sampler's current weights, not uniformly.

    Ultralytics picks the 3 (or 8) extra tiles uniformly from a buffer of recently loaded *distinct* images, so a
    boosted image counts once there however often the sampler drew it, and 3 of every 4 tiles ignore the sampler.
    The weights tensor lives in shared memory and is updated in place, so workers see every refresh.
    """

    def __init__(self, weights: torch.Tensor, k: int):
        self.weights, self.k = weights, int(k)

    def __call__(self) -> list[int]:
        return torch.multinomial(self.weights, self.k, replacement=True).tolist()


def draw_mosaic_tiles_from(dataset, weights: torch.Tensor) -> int:
    """Make every Mosaic transform of ``dataset`` draw its extra tiles by ``weights``; returns how many it changed."""
    from ultralytics.data.augment import Mosaic

    seen, stack, changed = set(), [getattr(dataset, "transforms", None)], 0
    while stack:
        t = stack.pop()
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        if isinstance(t, Mosaic):
            t.get_indexes = MosaicTiles(weights, t.n - 1)
            changed += 1
        stack += list(getattr(t, "transforms", None) or []) + [getattr(t, "pre_transform", None)]
    return changed


class ClassStatsRecorder(nn.Module):
    """Drop-in for ``v8DetectionLoss.bce``: same loss, plus per-class statistics fed to a :class:`DSCBSM`."""

    def __init__(self, bce: nn.Module, controller: "DSCBSM"):
        super().__init__()
        self.bce = bce
        self.controller = controller

    def forward(self, logits: torch.Tensor, target_scores: torch.Tensor) -> torch.Tensor:
        loss = self.bce(logits, target_scores)
        if torch.is_grad_enabled():  # training step; validation runs without grad
            self.controller.record(batch_class_stats(logits.detach(), target_scores, loss.detach(), self.controller.config.conf_floor))
        return loss


class DSCBSM:
    """DS-CBSM++ for one training run: class-balance state, the sampler it drives, and the loss recorder."""

    def __init__(self, image_classes: Sequence[np.ndarray], nc: int, config: DSCBSMConfig | None = None, seed: int = 0, block: int = 16):
        self.config = config or DSCBSMConfig()
        self.image_classes = [np.asarray(c, dtype=np.int64).reshape(-1) for c in image_classes]
        self.state = ClassBalanceState(class_counts(self.image_classes, nc), self.config)
        self.sampler = DynamicWeightedSampler(self.image_weights(), block=block, seed=seed)
        self._pending: torch.Tensor | None = None
        self._pending_batches = 0

    def image_weights(self) -> np.ndarray:
        return image_weights(self.image_classes, self.state.class_weights)

    def set_gamma(self, gamma: float) -> None:
        """Per epoch: set ``gamma_e`` and push the re-blended weights to the sampler."""
        self.state.set_gamma(gamma)
        self.sampler.set_weights(self.image_weights())

    def record(self, stats: torch.Tensor) -> None:
        """Add one mini-batch's ``[4, nc]`` sums; every ``refresh_every`` batches refresh the weights."""
        self._pending = stats if self._pending is None else self._pending.to(stats.device) + stats
        self._pending_batches += 1
        if (self.state.batches + self._pending_batches) % self.config.refresh_every == 0:
            self.flush()

    def flush(self) -> None:
        """Hand the pending sums to the state (one host copy); all-reduced across ranks under DDP."""
        if self._pending is None:
            return
        pending, n = self._pending, self._pending_batches
        self._pending, self._pending_batches = None, 0
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(pending)  # every rank reaches this after the same number of batches
        if self.state.observe(*pending.cpu().double().numpy(), batches=n):
            self.sampler.set_weights(self.image_weights())

    def to_dict(self) -> dict:
        """State for ``--resume``: class balance, un-flushed batch sums, and the sampler's draw counter."""
        pending = None if self._pending is None else self._pending.cpu().double().tolist()
        return {"state": self.state.to_dict(), "pending": pending, "pending_batches": self._pending_batches,
                "sampler_epoch": self.sampler.epoch}

    def load_dict(self, saved: dict) -> None:
        """Restore :meth:`to_dict`'s output and push the restored weights to the sampler."""
        self.state.load_dict(saved["state"])
        pending = saved.get("pending")
        self._pending = None if pending is None else torch.tensor(pending, dtype=torch.float32)
        self._pending_batches = int(saved.get("pending_batches", 0))
        self.sampler.set_epoch(int(saved.get("sampler_epoch", 0)))
        self.sampler.set_weights(self.image_weights())

    def wrap_criterion(self, criterion) -> None:
        """Install the recorder on a ``v8DetectionLoss`` (its ``bce`` attribute)."""
        bce = getattr(criterion, "bce", None)
        if not isinstance(bce, nn.Module):
            raise InputError(f"DS-CBSM++ needs a loss with a 'bce' module (v8DetectionLoss), got {type(criterion).__name__}")
        if not isinstance(bce, ClassStatsRecorder):
            criterion.bce = ClassStatsRecorder(bce, self)
