"""SlotPool: Detector slots go to waiting threads first come, first served (no starvation with threads > workers)."""

from __future__ import annotations

import threading
import time

import pytest

from grace_edge.runtime.detector import SlotPool


def wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_returned_slot_goes_to_the_longest_waiter_not_back_to_the_returner() -> None:
    pool = SlotPool()
    pool.put("slot")
    held = pool.get(lambda: None)
    order: list[str] = []

    def waiter(name: str) -> None:
        slot = pool.get(lambda: None)
        order.append(name)
        pool.put(slot)

    threads = []
    for k, name in enumerate(["b", "c", "d"]):
        threads.append(threading.Thread(target=waiter, args=(name,)))
        threads[-1].start()
        wait_for(lambda: len(pool._waiters) == k + 1)  # queued in this order
    pool.put(held)
    again = pool.get(lambda: None)  # the returner asks at once: it must queue behind b, c and d
    order.append("a")
    for t in threads:
        t.join()
    assert order == ["b", "c", "d", "a"] and again == "slot"


def test_a_waiter_that_gives_up_leaves_the_line_and_passes_on_a_slot() -> None:
    pool = SlotPool()
    stop = threading.Event()
    errors: list[BaseException] = []

    def check() -> None:
        if stop.is_set():
            raise RuntimeError("closed")

    def waiter() -> None:
        try:
            pool.get(check, poll=0.01)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: len(pool._waiters) == 1)
    stop.set()
    t.join()
    assert len(errors) == 1 and len(pool._waiters) == 0
    pool.put("slot")
    assert pool.get(lambda: None) == "slot"  # not lost to the thread that left


@pytest.mark.parametrize("rounds", [200])
def test_many_threads_share_two_slots_without_loss(rounds: int) -> None:
    pool = SlotPool()
    for s in ("s0", "s1"):
        pool.put(s)
    in_use: set[str] = set()
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(rounds // 8):
            slot = pool.get(lambda: None)
            with lock:
                assert slot not in in_use
                in_use.add(slot)
            with lock:
                in_use.discard(slot)
            pool.put(slot)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted([pool.get(lambda: None), pool.get(lambda: None)]) == ["s0", "s1"]
