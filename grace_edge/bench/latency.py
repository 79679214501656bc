"""Warm-up, timed loops, latency statistics and the batch sweep.

Everything here takes plain callables and a clock, so the statistics are testable with a fake clock and a fake
detector; the CLI and ``benchmarks/`` scripts feed it a real :class:`grace_edge.runtime.Detector`.
"""

from __future__ import annotations

import collections
import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from grace_edge.errors import InputError
from grace_edge.runtime.types import STAGES

Clock = Callable[[], float]
PERCENTILES = (50, 90, 95, 99)


class Profilable(Protocol):
    """The part of ``Detector`` the sweep uses (a fake in tests, the real runtime elsewhere)."""

    def detect(self, images: Any) -> list: ...

    def profile(self, images: Any) -> tuple[list[np.ndarray], dict[str, float]]: ...


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one call (milliseconds) over ``n`` timed calls of ``batch`` images each, and images per second."""

    n: int
    batch: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    throughput_ips: float | None  # images/s = batch * n / total timed seconds (one call at a time); None if 0 s

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(seconds: Sequence[float], batch: int = 1) -> LatencyStats:
    """Percentiles (linear interpolation), mean, sample std and sequential throughput of per-call ``seconds``."""
    if len(seconds) == 0:
        raise InputError("no timed calls to summarize (iterations or duration too small)")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if not np.all(np.isfinite(ms)) or np.any(ms < 0):
        raise InputError("timings must be finite and non-negative")
    p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, PERCENTILES))
    total_s = float(ms.sum()) / 1e3
    return LatencyStats(
        n=int(ms.size),
        batch=int(batch),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        min_ms=float(ms.min()),
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=float(ms.max()),
        throughput_ips=batch * ms.size / total_s if total_s > 0 else None,  # a stage that took no time (h2d on CPU)
    )


def time_interleaved(
    calls: Mapping[str, Callable[[], object]],
    *,
    warmup: int,
    iters: int,
    duration: float | None = None,
    block: int = 1,
    clock: Clock = time.perf_counter,
) -> dict[str, list[float]]:
    """Warm each call up, then time them round-robin, ``block`` calls of each per round, in seconds.

    Interleaving makes peers share the same machine load over time; ``block`` > 1 keeps one runtime's idle
    spinning threads from landing on every call of the next. ``iters`` counts calls per name; ``duration``
    (seconds), when given, replaces it: rounds run until that much time has passed (at least one round).
    """
    if warmup < 0 or iters < 1 or block < 1:
        raise InputError(f"need warmup >= 0, iters >= 1 and block >= 1, got {warmup}, {iters}, {block}")
    if duration is not None and duration <= 0:
        raise InputError(f"duration must be positive seconds, got {duration}")
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    start = clock()
    done = 0
    while done < iters or duration is not None:
        n = block if duration is not None else min(block, iters - done)
        for name, fn in calls.items():
            for _ in range(n):
                t0 = clock()
                fn()
                times[name].append(clock() - t0)
        done += n
        if duration is not None and clock() - start >= duration:
            break
    return times


def time_calls(fn: Callable[[], object], *, warmup: int, iters: int, duration: float | None = None,
               clock: Clock = time.perf_counter) -> list[float]:
    """Seconds per call of ``fn`` after ``warmup`` untimed calls."""
    return time_interleaved({"fn": fn}, warmup=warmup, iters=iters, duration=duration, clock=clock)["fn"]


def cycle_batches(images: Sequence[np.ndarray], batch: int) -> Iterator[list[np.ndarray]]:
    """Endless batches of ``batch`` images, walking the pool in order and wrapping around."""
    if not images:
        raise InputError("no images to benchmark with")
    n = len(images)
    batches = [[images[(start + k) % n] for k in range(batch)] for start in range(0, n, batch)]
    return itertools.cycle(batches)


def plan_batches(requested: Sequence[int], batch_range: Sequence[int]) -> tuple[list[int], list[dict[str, Any]]]:
    """Split requested batch sizes into those the artifact accepts and skipped ones with the reason."""
    lo, _, hi = (int(v) for v in batch_range)
    keep: list[int] = []
    skipped: list[dict[str, Any]] = []
    for b in dict.fromkeys(int(v) for v in requested):  # de-duplicate, keep order
        if b < 1:
            raise InputError(f"--batch values must be >= 1, got {b}")
        if b > hi:
            skipped.append({"batch": b, "reason": f"above the artifact's max batch {hi} (rebuild with a larger max)"})
        elif b < lo:
            skipped.append({"batch": b, "reason": f"below the artifact's min batch {lo}"})
        else:
            keep.append(b)
    return keep, skipped


def time_stages(detector: Profilable, batches: Iterator[list[np.ndarray]], iters: int) -> dict[str, list[float]]:
    """Seconds per stage from ``detector.profile`` over ``iters`` calls (stages it does not report are left out)."""
    per_stage: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(iters):
        _, stages = detector.profile(next(batches))
        for name, seconds in stages.items():
            per_stage[name].append(float(seconds))
    order = [s for s in STAGES if s in per_stage] + sorted(s for s in per_stage if s not in STAGES)
    return {s: per_stage[s] for s in order}


def time_concurrent(submit: Callable[[list[np.ndarray]], Any], batches: Iterator[list[np.ndarray]], *,
                    in_flight: int, iters: int, batch: int, clock: Clock = time.perf_counter) -> dict[str, Any]:
    """Keep ``in_flight`` ``submit`` futures running; per-request latency and wall-clock throughput."""
    latencies: list[float] = []
    pending: collections.deque = collections.deque()
    start = clock()
    for _ in range(iters):
        if len(pending) >= in_flight:
            _wait(pending.popleft(), latencies, clock)
        pending.append((clock(), submit(next(batches))))
    while pending:
        _wait(pending.popleft(), latencies, clock)
    wall = clock() - start
    stats = summarize(latencies, batch).to_dict()
    stats["throughput_ips"] = batch * iters / wall if wall > 0 else None
    stats["in_flight"] = in_flight
    return stats


def _wait(item: tuple[float, Any], latencies: list[float], clock: Clock) -> None:
    t0, future = item
    future.result()
    latencies.append(clock() - t0)  # completion as seen by the caller, in submission order


def sweep(
    detector: Profilable,
    images: Sequence[np.ndarray],
    batches: Sequence[int],
    *,
    warmup: int,
    iters: int,
    duration: float | None = None,
    stage_iters: int | None = None,
    workers: int = 1,
    submit: Callable[[list[np.ndarray]], Any] | None = None,
    clock: Clock = time.perf_counter,
    log: Callable[[str], None] | None = None,
    cpu_clock: Clock = time.process_time,
) -> list[dict[str, Any]]:
    """Time ``detect`` end to end per batch size, then per stage via ``profile``, then concurrency if asked.

    ``stage_iters`` defaults to ``iters``; 0 skips the per-stage pass. With ``workers > 1`` and a ``submit``
    function, a third pass keeps ``workers`` requests in flight and reports wall-clock throughput.
    ``cpu_ms_per_call``: this process's CPU time per end-to-end call (warm-up included): what a GPU wait costs the
    CPU, e.g. a spinning CUDA event (``sync="spin"``) shows up here as CPU time close to the latency.
    """
    rows = []
    for b in batches:
        stream = cycle_batches(images, b)
        cpu_start = cpu_clock()
        seconds = time_calls(lambda: detector.detect(next(stream)), warmup=warmup, iters=iters,
                             duration=duration, clock=clock)
        cpu_ms = 1e3 * (cpu_clock() - cpu_start) / (warmup + len(seconds))
        row: dict[str, Any] = {"batch": b, "end_to_end": summarize(seconds, b).to_dict(),
                               "cpu_ms_per_call": round(cpu_ms, 3)}
        n_stage = len(seconds) if stage_iters is None else stage_iters
        if n_stage > 0:
            stages = time_stages(detector, stream, n_stage)
            row["stages"] = {name: summarize(s, b).to_dict() for name, s in stages.items()}
        if workers > 1 and submit is not None:
            row["concurrent"] = time_concurrent(submit, stream, in_flight=workers, iters=len(seconds), batch=b,
                                                clock=clock)
        if log:
            e2e = row["end_to_end"]
            log(f"batch {b}: p50 {e2e['p50_ms']:.2f} ms, p95 {e2e['p95_ms']:.2f} ms, "
                f"{e2e['throughput_ips']:.1f} images/s ({e2e['n']} calls)")
        rows.append(row)
    return rows


def ratio(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, float | None]:
    """How much faster ours is: their p50 / our p50, their p95 / our p95, our throughput / their throughput."""

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None  # None, not inf: JSON has no infinity

    return {
        "speedup_p50": div(theirs["p50_ms"], ours["p50_ms"]),
        "speedup_p95": div(theirs["p95_ms"], ours["p95_ms"]),
        "throughput_ratio": div(ours["throughput_ips"], theirs["throughput_ips"]),
    }
