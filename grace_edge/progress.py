"""Progress of long loops (val, the accuracy gate, calibration): a line on stderr about every ``every`` seconds.

Short runs stay silent (the first line comes after ``every`` seconds), long ones say how far they are and when they
will end: ``val: 120/360 images (33%), 41 s, ETA 82 s``. Training has its own per-epoch lines (train/progress.py).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps it readable: 45 s, 14 min, 3.2 h, 5.1 days."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Progress:
    """Count work done out of ``total`` and report it now and then; ``clock`` is injectable for tests."""

    def __init__(self, label: str, total: int, unit: str = "images", every: float = 10.0,
                 stream: TextIO | None = None, clock=time.monotonic) -> None:
        self.label, self.total, self.unit, self.every = label, max(int(total), 0), unit, every
        self.stream, self.clock = stream, clock
        self.done = 0
        self.start = self.last = clock()
        self.reported = False

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.every or (self.reported and self.done >= self.total):
            self.last, self.reported = now, True
            elapsed = now - self.start
            eta = "" if self.done >= self.total or not self.done else \
                f", ETA {duration(elapsed / self.done * (self.total - self.done))}"
            pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            print(f"{self.label}: {self.done}/{self.total} {self.unit}{pct}, {duration(elapsed)}{eta}",
                  file=self.stream or sys.stderr, flush=True)
