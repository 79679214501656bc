"""Latency statistics, timed loops and the batch sweep, on known timings (a fake clock and a FAKE detector).

The fake detector only stands in for ``grace_edge.runtime.Detector`` to test our own timing logic; the real
runtime is timed in tests/bench/test_cli.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from grace_edge.bench import latency
from grace_edge.errors import InputError
from tests.helpers.fake_bench import FakeClock, FakeDetector


def test_summarize_known_timings() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    s = latency.summarize(seconds, batch=4)
    assert s.n == 100 and s.batch == 4
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p95_ms == pytest.approx(95.05)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert s.std_ms == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert (s.min_ms, s.max_ms) == pytest.approx((1.0, 100.0))
    assert s.throughput_ips == pytest.approx(4 * 100 / 5.05)  # 400 images in 5.05 s


def test_summarize_single_call_and_bad_input() -> None:
    s = latency.summarize([0.02])
    assert s.std_ms == 0.0 and s.p99_ms == pytest.approx(20.0) and s.throughput_ips == pytest.approx(50.0)
    with pytest.raises(InputError):
        latency.summarize([])
    with pytest.raises(InputError):
        latency.summarize([0.01, float("nan")])
    with pytest.raises(InputError):
        latency.summarize([0.01], batch=0)


def test_time_calls_excludes_warmup_and_uses_the_clock() -> None:
    clock = FakeClock()
    costs = iter([1.0] * 3 + [0.01, 0.02, 0.03])  # three slow warm-up calls, then three timed
    seconds = latency.time_calls(lambda: clock.spend(next(costs)), warmup=3, iters=3, clock=clock)
    assert seconds == pytest.approx([0.01, 0.02, 0.03])


def test_duration_replaces_iters() -> None:
    clock = FakeClock()
    seconds = latency.time_calls(lambda: clock.spend(0.125), warmup=0, iters=1, duration=1.0, clock=clock)
    assert len(seconds) == 8  # stops once 1 s has passed, whatever iters says


def test_interleaved_alternates_and_times_each() -> None:
    clock, order = FakeClock(), []
    calls = {"a": lambda: (order.append("a"), clock.spend(0.01)), "b": lambda: (order.append("b"), clock.spend(0.03))}
    times = latency.time_interleaved(calls, warmup=1, iters=2, clock=clock)
    assert order == ["a", "b"] * 3
    assert times["a"] == pytest.approx([0.01, 0.01]) and times["b"] == pytest.approx([0.03, 0.03])


def test_interleaved_in_blocks() -> None:
    clock, order = FakeClock(), []
    calls = {"a": lambda: (order.append("a"), clock.spend(0.01)), "b": lambda: (order.append("b"), clock.spend(0.03))}
    times = latency.time_interleaved(calls, warmup=0, iters=5, block=2, clock=clock)
    assert "".join(order) == "aabbaabbab"
    assert len(times["a"]) == len(times["b"]) == 5


def test_zero_time_stage_has_no_throughput() -> None:
    assert latency.summarize([0.0, 0.0]).throughput_ips is None
    assert latency.ratio({"p50_ms": 0.0, "p95_ms": 1.0, "throughput_ips": None},
                         {"p50_ms": 2.0, "p95_ms": 2.0, "throughput_ips": 5.0}) == {
        "speedup_p50": None, "speedup_p95": 2.0, "throughput_ratio": None}


@pytest.mark.parametrize("kwargs", [{"warmup": -1, "iters": 1}, {"warmup": 0, "iters": 0},
                                    {"warmup": 0, "iters": 1, "duration": 0},
                                    {"warmup": 0, "iters": 1, "block": 0}])
def test_loop_rejects_bad_counts(kwargs) -> None:
    with pytest.raises(InputError):
        latency.time_interleaved({"fn": lambda: None}, **kwargs)


def test_plan_batches_skips_outside_range() -> None:
    keep, skipped = latency.plan_batches([1, 2, 4, 8, 16, 4], (2, 4, 8))
    assert keep == [2, 4, 8]
    assert [s["batch"] for s in skipped] == [1, 16]
    assert "max batch 8" in skipped[1]["reason"] and "min batch 2" in skipped[0]["reason"]


def test_cycle_batches_wraps_in_order() -> None:
    images = [np.full((2, 2), i, np.uint8) for i in range(5)]
    stream = latency.cycle_batches(images, 2)
    firsts = [[int(im[0, 0]) for im in next(stream)] for _ in range(4)]
    assert firsts == [[0, 1], [2, 3], [4, 0], [0, 1]]


def test_sweep_on_a_fake_detector() -> None:
    clock = FakeClock()
    det = FakeDetector(clock)
    images = [np.zeros((8, 8), np.uint8)] * 3
    rows = latency.sweep(det, images, [1, 4], warmup=2, iters=5, stage_iters=3, workers=2, submit=det.submit,
                         clock=clock)
    assert [r["batch"] for r in rows] == [1, 4]
    e2e = rows[1]["end_to_end"]
    assert e2e["n"] == 5 and e2e["p50_ms"] == pytest.approx(40.0) and e2e["throughput_ips"] == pytest.approx(100.0)
    assert list(rows[1]["stages"]) == list(latency.STAGES)
    assert rows[1]["stages"]["compute"]["p50_ms"] == pytest.approx(32.0) and rows[1]["stages"]["compute"]["n"] == 3
    assert rows[0]["concurrent"]["in_flight"] == 2 and rows[0]["concurrent"]["n"] == 5
    assert det.calls.count(4) == 2 + 5 + 5  # warm-up + timed + concurrent (profile calls are separate)


def test_sweep_without_stages() -> None:
    clock = FakeClock()
    rows = latency.sweep(FakeDetector(clock), [np.zeros((4, 4), np.uint8)], [2], warmup=0, iters=2, stage_iters=0,
                         clock=clock)
    assert "stages" not in rows[0] and "concurrent" not in rows[0]


def test_sweep_reports_the_cpu_time_a_call_costs() -> None:
    """A detector whose wait spins burns CPU for its whole latency; one that sleeps does not (fake CPU clocks)."""
    clock = FakeClock()
    for spin, want in ((True, 10.0), (False, 1.0)):
        cpu = FakeClock()

        class Waiting(FakeDetector):
            def detect(self, images):
                cpu.spend(0.010 if spin else 0.001)  # CPU time of one call: the whole wait, or a little work
                return super().detect(images)

        rows = latency.sweep(Waiting(clock), [np.zeros((4, 4), np.uint8)], [1], warmup=1, iters=3, stage_iters=0,
                             clock=clock, cpu_clock=cpu)
        assert rows[0]["cpu_ms_per_call"] == pytest.approx(want)


def test_ratio() -> None:
    ours = {"p50_ms": 10.0, "p95_ms": 20.0, "throughput_ips": 100.0}
    theirs = {"p50_ms": 30.0, "p95_ms": 30.0, "throughput_ips": 25.0}
    assert latency.ratio(ours, theirs) == pytest.approx({"speedup_p50": 3.0, "speedup_p95": 1.5,
                                                        "throughput_ratio": 4.0})
