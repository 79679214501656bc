"""--fraction: a stratified subset (every class in proportion), not the first images of a class-sorted list."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.train.subset import stratified_subset


def _classes() -> list[frozenset[int]]:
    # class-sorted, like NEU-DET's file names: Ultralytics' first 10% would be all class 0
    return [frozenset({0})] * 100 + [frozenset({1})] * 50 + [frozenset({1, 2})] * 10 + [frozenset()] * 3 + [frozenset({2})] * 40


def test_each_class_set_in_proportion_and_total_exact():
    classes = _classes()
    picked = stratified_subset(classes, 0.1)
    assert len(picked) == round(0.1 * len(classes)) == 20
    strata = Counter(tuple(sorted(classes[i])) for i in picked)
    assert strata[(0,)] == 10 and strata[(1,)] == 5 and strata[(2,)] == 4 and strata[(1, 2)] == 1
    assert picked == sorted(set(picked)) and picked == stratified_subset(classes, 0.1)  # sorted, unique, repeatable
    first = classes[: len(picked)]  # what Ultralytics' fraction takes
    assert {c for s in first for c in s} == {0}


def test_fraction_one_is_everything_and_bad_fraction_is_an_input_error():
    assert stratified_subset(_classes(), 1.0) == list(range(len(_classes())))
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(InputError, match="--fraction"):
            stratified_subset(_classes(), bad)


def test_tiny_fraction_keeps_at_least_one_image():
    assert len(stratified_subset(_classes(), 1e-6)) == 1


@pytest.mark.data
def test_trainer_fraction_dataset_holds_every_class(tiny_dataset, tmp_path):
    from tests.helpers.trainers import tiny_trainer

    trainer = tiny_trainer(tiny_dataset, tmp_path, "baseline", fraction=0.5)
    dataset = trainer.build_dataset(trainer.data["train"], "train", 4)
    full = trainer.build_dataset(trainer.data["train"], "val", 4)  # val mode ignores fraction
    classes = np.concatenate([np.asarray(lb["cls"]).reshape(-1) for lb in dataset.labels]).astype(int)
    assert set(classes) == set(range(6))
    assert len(dataset.im_files) == round(0.5 * len(full.im_files))
    assert trainer.args.fraction == 0.5
