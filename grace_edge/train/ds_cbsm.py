"""DS-CBSM++ (GRACE paper, eqs 6-10): dynamic class weights for class-balanced sampling, in pure numpy.

- eq 6, base weights: inverse class frequency (box counts), normalised to mean 1 (a class with no boxes gets 1).
- eq 7, difficulty: ``Delta_c = alpha * log(1 + g_c) + beta * (1 - conf_c)``, where ``g_c`` is an EMA of the
  per-class classification-loss magnitude (the gradient surrogate) and ``conf_c`` an EMA of the mean sigmoid
  confidence of the positives assigned to class c (only confidences >= 0.01 are counted).
- eq 8, dynamic weights: ``w_dyn = clip(normalise(w_base * exp(Delta)), 0.85, 1.35)``, normalise = divide by mean.
- eq 9, final class weights: ``(1 - gamma_e) * w_base + gamma_e * w_dyn``.
- eq 10, image weights: the mean class weight of an image's boxes; an image without boxes gets weight 1. The paper
  does not say how an image with several classes is weighted. Most NEU-DET images hold one class, where mean and
  max agree, but 123 of the 1,799 hold two or more (``benchmarks/image_weights.py`` measures how far mean and
  max differ on them). We use the mean: an image is drawn for all of its boxes, so its weight is their average
  need; max would let one rare box boost an image full of common-class boxes, over-drawing the common class.

Statistics arrive once per mini-batch as per-class sums; every ``refresh_every`` (20) mini-batches the window's
means update the EMAs and the weights are recomputed. A class's first observed mean initialises its EMA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from grace_edge.train.protocol import GAMMA_MAX

import numpy as np

from grace_edge.errors import InputError


@dataclass(frozen=True)
class DSCBSMConfig:
    """DS-CBSM++ hyper-parameters (paper values by default)."""

    alpha: float = 0.22
    beta: float = 0.14
    w_min: float = 0.85
    w_max: float = 1.35
    gamma_max: float = GAMMA_MAX
    refresh_every: int = 20  # mini-batches between weight refreshes
    ema_momentum: float = 0.9  # EMA_new = m * EMA_old + (1 - m) * window mean (per refresh)
    conf_floor: float = 0.01  # positives with sigmoid confidence below this are not counted in conf_c


def base_class_weights(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Eq 6: inverse-frequency class weights normalised to mean 1; classes without boxes get weight 1."""
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size == 0 or (n < 0).any():
        raise InputError(f"class counts must be a non-empty 1-D array of counts >= 0, got {n.tolist()}")
    present = n > 0
    if not present.any():
        return np.ones_like(n)
    inv = np.where(present, 1.0 / np.where(present, n, 1.0), 0.0)
    inv_present = inv[present] / inv[present].mean()
    out = np.ones_like(n)
    out[present] = inv_present
    return out


def difficulty(g: np.ndarray, conf: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Eq 7: ``Delta_c = alpha * log(1 + g_c) + beta * (1 - conf_c)``."""
    return alpha * np.log1p(np.asarray(g, dtype=np.float64)) + beta * (1.0 - np.asarray(conf, dtype=np.float64))


def dynamic_class_weights(w_base: np.ndarray, delta: np.ndarray, w_min: float, w_max: float) -> np.ndarray:
    """Eq 8: ``clip(normalise(w_base * exp(Delta)), w_min, w_max)`` with normalise = divide by the mean."""
    w = np.asarray(w_base, dtype=np.float64) * np.exp(np.asarray(delta, dtype=np.float64))
    return np.clip(w / w.mean(), w_min, w_max)


def blend(w_base: np.ndarray, w_dyn: np.ndarray, gamma: float) -> np.ndarray:
    """Eq 9: ``(1 - gamma) * w_base + gamma * w_dyn``."""
    return (1.0 - gamma) * np.asarray(w_base, dtype=np.float64) + gamma * np.asarray(w_dyn, dtype=np.float64)


def image_weights(image_classes: Sequence[np.ndarray], class_weights: np.ndarray) -> np.ndarray:
    """Eq 10: per image, the mean weight of its boxes' classes (1 for an image without boxes)."""
    w = np.asarray(class_weights, dtype=np.float64)
    out = np.ones(len(image_classes), dtype=np.float64)
    for i, classes in enumerate(image_classes):
        c = np.asarray(classes, dtype=np.int64).reshape(-1)
        if c.size:
            out[i] = w[c].mean()
    return out


def class_counts(image_classes: Sequence[np.ndarray], nc: int) -> np.ndarray:
    """Box count per class over all images; a class id outside [0, nc) is an error, not silently dropped."""
    flat = np.concatenate([np.asarray(c, dtype=np.int64).reshape(-1) for c in image_classes] or [np.zeros(0, np.int64)])
    bad = flat[(flat < 0) | (flat >= nc)]
    if bad.size:
        raise InputError(f"label class id {int(bad[0])} is outside 0..{nc - 1}")
    return np.bincount(flat, minlength=nc).astype(np.float64)


@dataclass
class ClassBalanceState:
    """The DS-CBSM++ state of one training run: EMAs, the current window, and the class weights."""

    counts: np.ndarray
    config: DSCBSMConfig = field(default_factory=DSCBSMConfig)
    gamma: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.asarray(self.counts, dtype=np.float64)
        self.nc = int(self.counts.size)
        self.w_base = base_class_weights(self.counts)
        self.ema_loss = np.zeros(self.nc)
        self.ema_conf = np.zeros(self.nc)
        self.seen_loss = np.zeros(self.nc, dtype=bool)  # whether a class's loss EMA has been initialised
        self.seen_conf = np.zeros(self.nc, dtype=bool)
        self.batches = 0
        self.refreshes = 0
        self._window = np.zeros((4, self.nc))  # loss sum, loss count, conf sum, conf count
        self.w_dyn = self._dynamic()
        self.class_weights = blend(self.w_base, self.w_dyn, self.gamma)

    _SAVED = ("gamma", "ema_loss", "ema_conf", "seen_loss", "seen_conf", "batches", "refreshes", "_window", "w_dyn", "class_weights")

    def to_dict(self) -> dict:
        """Everything a resumed run needs (JSON-ready: numbers and lists only)."""
        out = {k: getattr(self, k) for k in self._SAVED}
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in out.items()}

    def load_dict(self, saved: dict) -> None:
        """Restore :meth:`to_dict`'s output; a different class count or missing key is an InputError."""
        missing = [k for k in self._SAVED if k not in saved]
        if missing:
            raise InputError(f"DS-CBSM++ state lacks {missing}")
        for k in self._SAVED:
            old = getattr(self, k)
            if isinstance(old, np.ndarray):
                new = np.asarray(saved[k], dtype=old.dtype)
                if new.shape != old.shape:
                    raise InputError(f"DS-CBSM++ state {k!r} has shape {new.shape}, this run needs {old.shape}")
                setattr(self, k, new)
            else:
                setattr(self, k, type(old)(saved[k]))

    def set_gamma(self, gamma: float) -> None:
        """Set ``gamma_e`` (once per epoch) and re-blend the class weights."""
        self.gamma = float(gamma)
        self.class_weights = blend(self.w_base, self.w_dyn, self.gamma)

    def observe(
        self, loss_sum: np.ndarray, loss_count: np.ndarray, conf_sum: np.ndarray, conf_count: np.ndarray, batches: int = 1
    ) -> bool:
        """Add the per-class sums of ``batches`` mini-batches; refresh each time a multiple of ``refresh_every``
        batches is reached. Returns True if it refreshed."""
        sums = [np.asarray(a, dtype=np.float64).reshape(self.nc) for a in (loss_sum, loss_count, conf_sum, conf_count)]
        self._window += np.stack(sums)
        before, self.batches = self.batches, self.batches + int(batches)
        r = self.config.refresh_every
        if self.batches // r == before // r:
            return False
        self.refresh()
        return True

    def refresh(self) -> None:
        """Fold the current window into the EMAs and recompute ``w_dyn`` and the class weights."""
        loss_sum, loss_n, conf_sum, conf_n = self._window
        self._update_ema(self.ema_loss, self.seen_loss, loss_sum, loss_n)
        self._update_ema(self.ema_conf, self.seen_conf, conf_sum, conf_n)
        self._window[:] = 0.0
        self.refreshes += 1
        self.w_dyn = self._dynamic()
        self.class_weights = blend(self.w_base, self.w_dyn, self.gamma)

    def _update_ema(self, ema: np.ndarray, seen: np.ndarray, total: np.ndarray, n: np.ndarray) -> None:
        """In place: classes observed in the window move their EMA; a first observation initialises it."""
        m = self.config.ema_momentum
        has = n > 0
        mean = np.divide(total, n, out=np.zeros_like(total), where=has)
        first, again = has & ~seen, has & seen
        ema[first] = mean[first]
        ema[again] = m * ema[again] + (1.0 - m) * mean[again]
        seen |= has

    def _dynamic(self) -> np.ndarray:
        c = self.config
        return dynamic_class_weights(self.w_base, difficulty(self.ema_loss, self.ema_conf, c.alpha, c.beta), c.w_min, c.w_max)
