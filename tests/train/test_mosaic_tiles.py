"""Mosaic's extra tiles follow the DS-CBSM++ sampler's weights, including refreshes made after the loader started."""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.train.sampler import DynamicWeightedSampler, MosaicTiles


def test_tiles_follow_current_weights_in_place():
    sampler = DynamicWeightedSampler(np.array([0.0, 1.0, 0.0]))
    tiles = MosaicTiles(sampler.weights, 3)
    assert tiles() == [1, 1, 1]
    sampler.set_weights(np.array([0.0, 0.0, 2.0]))  # a refresh: same tensor, new values
    assert tiles() == [2, 2, 2]
    assert sampler.weights.is_shared()


@pytest.mark.data
def test_trainer_patches_mosaic_of_sampled_loader(tiny_dataset, tmp_path):
    from tests.helpers.trainers import tiny_trainer

    trainer = tiny_trainer(tiny_dataset, tmp_path, "ds-cbsm")
    loader = trainer.get_dataloader(trainer.data["train"], 4, -1, "train")
    from ultralytics.data.augment import Mosaic

    mosaics = [t for t in loader.dataset.transforms.transforms[0].transforms if isinstance(t, Mosaic)]
    assert len(mosaics) == 1 and isinstance(mosaics[0].get_indexes, MosaicTiles)
    assert mosaics[0].get_indexes.weights is trainer.ds_cbsm.sampler.weights
    n = len(loader.dataset)
    w = np.zeros(n)
    w[n - 1] = 1.0
    trainer.ds_cbsm.sampler.set_weights(w)
    assert mosaics[0].get_indexes() == [n - 1] * 3
