"""A fake clock and a FAKE detector for the timing logic of grace_edge.bench (known timings, no model)."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np


class FakeClock:
    """A clock that only moves when a fake call spends time."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def spend(self, seconds: float) -> None:
        self.t += seconds


class FakeDetector:
    """FAKE: costs ``per_image`` seconds of fake clock per image; profile splits that over five stages."""

    def __init__(self, clock: FakeClock, per_image: float = 0.010) -> None:
        self.clock, self.per_image, self.calls = clock, per_image, []

    def detect(self, images):
        self.calls.append(len(images))
        self.clock.spend(self.per_image * len(images))
        return [[] for _ in images]

    def profile(self, images):
        n = len(images)
        self.clock.spend(self.per_image * n)
        return [np.zeros((0, 6), np.float32)] * n, {"preprocess": 0.001 * n, "h2d": 0.0, "compute": 0.008 * n,
                                                    "d2h": 0.0, "postprocess": 0.001 * n}

    def submit(self, images):
        future: Future = Future()
        future.set_result(self.detect(images))
        return future
