"""``--fraction``: a stratified subset of the train images, so that a quick run sees every class in proportion.

Ultralytics keeps the first ``fraction`` of the sorted image list. NEU-DET file names start with the class
(``crazing_1.jpg`` ...), so its first 10% is all ``crazing`` and a quick check learns one class. Here each image
falls in the stratum of the set of classes it holds (``{crazing}``, ``{inclusion, scratches}``, ..., ``{}`` for a
background image); every stratum gives ``round(fraction * size)`` images by largest-remainder allocation (so the
total is exactly ``round(fraction * N)``), picked at random with a fixed seed. The same files and fraction
always give the same subset, whatever the training seed: seeds of an ablation differ in training, not in data.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grace_edge.errors import InputError

SUBSET_SEED = 0


def label_classes(image: str | os.PathLike[str]) -> frozenset[int]:
    """Classes in an image's YOLO label file (Ultralytics' /images/ -> /labels/ rule); empty if it has none."""
    from grace_edge.data.labels import label_path_for, read_classes

    label = label_path_for(Path(image))
    return frozenset(read_classes(label).tolist()) if label.is_file() else frozenset()


def stratified_subset(
    classes: Sequence[frozenset[int]], fraction: float, seed: int = SUBSET_SEED
) -> list[int]:
    """Indices (sorted) of a ``fraction`` of the items, stratified by their class sets (see module doc)."""
    if not 0 < fraction <= 1:
        raise InputError(f"--fraction must be in (0, 1], got {fraction}")
    n = len(classes)
    if fraction == 1 or n == 0:
        return list(range(n))
    strata: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(classes):
        strata[tuple(sorted(c))].append(i)
    keys = sorted(strata)
    quota = np.array([fraction * len(strata[k]) for k in keys])
    take = np.floor(quota).astype(int)
    left = max(1, round(fraction * n)) - int(take.sum())
    order = sorted(range(len(keys)), key=lambda j: (-(quota[j] - take[j]), keys[j]))  # largest remainder first
    for j in order[:left]:
        take[j] += 1
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for k, t in zip(keys, take):
        members = strata[k]
        picked += [members[i] for i in rng.permutation(len(members))[:t]]
    return sorted(picked)


def subset_files(files: Sequence[str], fraction: float, seed: int = SUBSET_SEED) -> list[str]:
    """The stratified ``fraction`` of image ``files`` (class sets read from their label files)."""
    return [files[i] for i in stratified_subset([label_classes(f) for f in files], fraction, seed)]
