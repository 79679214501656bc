"""DS-CBSM++ sampler on real NEU-DET labels: the tail class is drawn more often than uniform sampling would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from grace_edge.train.ds_cbsm import DSCBSMConfig
from grace_edge.train.sampler import DSCBSM


def _train_classes(data_yaml: Path) -> list[np.ndarray]:
    cfg = yaml.safe_load(data_yaml.read_text())
    labels = Path(cfg["path"]) / "labels" / Path(cfg["train"]).name
    return [np.loadtxt(f, ndmin=2)[:, 0].astype(int) for f in sorted(labels.glob("*.txt"))]


def _share_of_tail_images(ds: DSCBSM, tail: int, epochs: int = 200) -> float:
    has_tail = np.array([tail in c for c in ds.image_classes])
    draws = np.concatenate([np.fromiter(ds.sampler, dtype=int) for _ in range(epochs)])
    return float(has_tail[draws].mean())


@pytest.mark.data
def test_tail_class_drawn_more_often_than_uniform(tiny_dataset: Path):
    classes = _train_classes(tiny_dataset)
    ds = DSCBSM(classes, nc=6, config=DSCBSMConfig(refresh_every=20), seed=0)
    counts = ds.state.counts
    tail = int(np.argmin(np.where(counts > 0, counts, np.inf)))
    uniform = float(np.mean([tail in c for c in classes]))  # share of draws a uniform sampler gives the tail class
    assert len(ds.sampler) == len(classes)  # same number of samples per epoch as uniform sampling

    base_share = _share_of_tail_images(ds, tail)
    assert base_share > 1.15 * uniform, (base_share, uniform)

    # with gamma 0.6 and one refresh, a tail class that is hard (high loss, low confidence) is drawn more often
    # than the same tail class when it is as easy as the others
    assert _share_of_tail_images(_after_refresh(classes, tail, hard=True), tail) > _share_of_tail_images(
        _after_refresh(classes, tail, hard=False), tail
    )


def _after_refresh(classes: list[np.ndarray], tail: int, hard: bool) -> DSCBSM:
    ds = DSCBSM(classes, nc=6, config=DSCBSMConfig(refresh_every=20), seed=0)
    ds.set_gamma(0.6)
    stats = torch.tensor([[0.2], [1.0], [0.9], [1.0]]).repeat(1, 6)  # per class: loss sum, count, conf sum, count
    if hard:
        stats[:, tail] = torch.tensor([3.0, 1.0, 0.05, 1.0])
    for _ in range(20):
        ds.record(stats)
    assert ds.state.refreshes == 1
    return ds
