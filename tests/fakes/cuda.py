"""FAKE ``pycuda.driver`` (2026.1) and ``cuda.bindings.runtime`` (cuda-python 12.9 / 13.4) for CPU tests.

They record what our code asks of them and keep "device memory" in numpy arrays, so the TensorRT fake can compute
results. Every name, value and parameter list here is checked against the real libraries' recorded surfaces
(tests/fakes/test_fakes_match_real_api.py). Behaviour that matters to our code is modelled on pycuda's source
(src/cpp/cuda.hpp): a context stack per thread, and ``Context.detach()`` of a primary context that releases it only
when the context is current on the calling thread, or when called on the thread that retained it (which pushes it
and leaves it current); on any other thread it silently releases nothing.
Streams and events record their flags and fail the test for a blocking stream (flags 0 synchronises with the legacy
default stream) or a spinning event (no BLOCKING_SYNC) unless the test allows spinning (``log.allow_spin``); an
event made with DISABLE_TIMING refuses ``time_since`` as CUDA does. These fakes prove nothing about a GPU.
"""

from __future__ import annotations

import enum
import importlib.abc
import sys
import threading
import types
from typing import Any

import numpy as np

CU_STREAM_NON_BLOCKING = 1  # cuda.h; pycuda has no enum for stream flags

class Log:
    """Everything the fakes saw, shared by the pycuda, cudart and tensorrt fakes of one test."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.stack: dict[int, list[Any]] = {}  # thread id -> pycuda's context stack on that thread
        self.memory: dict[int, np.ndarray] = {}
        self.allocations = 0
        self.pinned = 0
        self.next_address = 0x1000
        self.retained = 0  # primary-context references held (retain +1, effective release -1)
        self.leaked_detach = 0  # detach() calls that released nothing (pycuda: "leaked out-of-thread context")
        self.capturing: list | None = None  # set by the cudart fake while a stream is being captured
        self.version = ""  # the tensorrt fake's release line ("10.3", "11.4") once one is made
        self.stream_flags: list[int] = []  # flags of every pycuda Stream made
        self.event_flags: list[int] = []  # flags of every pycuda Event made
        self.allow_spin = False  # a test of sync="spin" sets it: events without BLOCKING_SYNC are then expected

    def add(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)

    def depth(self) -> int:
        return len(self.stack.get(threading.get_ident(), []))

    def require_context(self, what: str) -> None:
        assert self.depth() > 0, f"{what} called without a pushed CUDA context"

    def count(self, name: str) -> int:
        return sum(c == name for c in self.calls)


def make_pycuda(log: Log, device_count: int = 1) -> tuple[types.ModuleType, types.ModuleType]:
    """(``pycuda`` package, ``pycuda.driver``) fakes sharing ``log``."""
    drv = types.ModuleType("pycuda.driver")

    class Context:  # made by Device.retain_primary_context(); like the real one, not constructible directly
        _thread = 0  # pycuda: m_thread, the thread that made/retained it
        _valid = True

        def push(self) -> None:
            log.stack.setdefault(threading.get_ident(), []).append(self)

        @staticmethod
        def pop() -> None:
            stack = log.stack.get(threading.get_ident(), [])
            assert stack, "pycuda: cannot pop non-current context"
            stack.pop()

        def detach(self) -> None:
            assert self._valid, "pycuda: cannot detach from invalid context"
            stack = log.stack.get(threading.get_ident(), [])
            if stack and stack[-1] is self:
                log.retained -= 1  # cuDevicePrimaryCtxRelease while current
                while stack and stack[-1] is self:
                    stack.pop()  # current_context(this) drops it from pycuda's stack
            elif self._thread == threading.get_ident():
                log.retained -= 1  # pushed, released, and left current on CUDA's stack
            else:
                log.leaked_detach += 1  # off the retaining thread: nothing is released
            self._valid = False

    class Device:
        def __init__(self, index: int) -> None:
            self.index = index

        @staticmethod
        def count() -> int:
            return device_count

        def name(self) -> str:
            return "Fake GPU"

        def compute_capability(self) -> tuple[int, int]:
            return (8, 7)

        def retain_primary_context(self) -> Context:
            log.add("retain_primary_context")
            log.retained += 1
            context = Context()
            context._thread = threading.get_ident()
            return context

    class DeviceAllocation:  # made by mem_alloc(); not constructible directly, like the real one
        _address = 0

        def __int__(self) -> int:
            return self._address

        def free(self) -> None:
            log.require_context("free")
            del log.memory[self._address]

    class event_flags(enum.IntEnum):  # noqa: N801 - the real name
        DEFAULT = 0
        BLOCKING_SYNC = 1
        DISABLE_TIMING = 2
        INTERPROCESS = 4

    class Stream:
        def __init__(self, flags: int = 0) -> None:
            log.require_context("Stream")
            log.stream_flags.append(int(flags))
            assert int(flags) & CU_STREAM_NON_BLOCKING, (
                f"Stream(flags={int(flags)}) is a blocking stream: it synchronises with the legacy default stream, so "
                "another CUDA user in the process serialises with it (use CU_STREAM_NON_BLOCKING = 1)")
            self.handle = id(self)

        def synchronize(self) -> None:
            log.require_context("Stream.synchronize")

    class Event:
        def __init__(self, flags: int = 0) -> None:
            log.require_context("Event")
            log.event_flags.append(int(flags))
            self._timing = not int(flags) & event_flags.DISABLE_TIMING
            assert log.allow_spin or int(flags) & event_flags.BLOCKING_SYNC, (
                f"Event(flags={int(flags)}) spins a CPU core while a thread waits on it: use "
                "event_flags.BLOCKING_SYNC (or allow spinning in a test of sync='spin')")

        def record(self, stream: Stream | None = None) -> "Event":
            log.require_context("Event.record")
            return self

        def synchronize(self) -> "Event":
            log.require_context("Event.synchronize")
            return self

        def time_since(self, other: "Event") -> float:
            assert self._timing and other._timing, "cuEventElapsedTime: an event made with DISABLE_TIMING"
            return 0.5  # milliseconds

    def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
        log.require_context("pagelocked_empty")
        log.pinned += 1
        return np.empty(shape, dtype)

    def mem_alloc(size: int) -> DeviceAllocation:
        log.require_context("mem_alloc")
        allocation = DeviceAllocation()
        allocation._address = log.next_address
        log.next_address += size + 256
        log.memory[allocation._address] = np.zeros(size, np.uint8)
        log.allocations += 1
        return allocation

    def memcpy_htod_async(dest, src, stream=None) -> None:
        log.require_context("memcpy_htod_async")
        log.add("htod")
        log.memory[int(dest)][: src.nbytes] = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)

    def memcpy_dtoh_async(dest, src, stream=None) -> None:
        log.require_context("memcpy_dtoh_async")
        log.add("dtoh")
        dest[...] = np.frombuffer(log.memory[int(src)][: dest.nbytes].tobytes(), dest.dtype).reshape(dest.shape)

    def init(flags: int = 0) -> None:
        log.add("init")

    def get_version() -> tuple[int, int, int]:
        return (12, 6, 0)  # the CUDA version pycuda was built against

    def get_driver_version() -> int:
        return 12060

    drv.__dict__.update(
        Context=Context, Device=Device, DeviceAllocation=DeviceAllocation, Stream=Stream, Event=Event,
        event_flags=event_flags,
        pagelocked_empty=pagelocked_empty, mem_alloc=mem_alloc, memcpy_htod_async=memcpy_htod_async,
        memcpy_dtoh_async=memcpy_dtoh_async, init=init, get_version=get_version,
        get_driver_version=get_driver_version,
    )
    pkg = types.ModuleType("pycuda")
    pkg.driver = drv  # type: ignore[attr-defined]
    return pkg, drv


class cudaStreamCaptureMode(enum.IntEnum):  # noqa: N801 - the real name
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


class cudaError_t(enum.IntEnum):  # noqa: N801 - the real name
    cudaSuccess = 0


class _Graph:
    """A captured stream: the enqueues made between begin and end capture, replayed by each launch."""

    def __init__(self, work: list) -> None:
        self.work = work


def make_cudart(log: Log) -> types.ModuleType:
    """A fake ``cuda.bindings.runtime``: stream capture records what TensorRT enqueues; a launch replays it.

    Each call returns ``(cudaError_t, *values)`` like the real bindings. While a stream is capturing,
    ``log.capturing`` holds a list that the fake TensorRT appends its work to instead of running it.
    """
    rt = types.ModuleType("cuda.bindings.runtime")
    ok = cudaError_t.cudaSuccess
    log.capturing = None

    def cudaStreamBeginCapture(stream, mode):  # noqa: N802 - the real names
        log.add("begin_capture")
        log.capturing = []
        return (ok,)

    def cudaStreamEndCapture(stream):  # noqa: N802
        log.add("end_capture")
        graph, log.capturing = _Graph(log.capturing), None
        return ok, graph

    def cudaGraphInstantiate(graph, flags):  # noqa: N802
        log.add("instantiate")
        return ok, _Graph(list(graph.work))

    def cudaGraphLaunch(graphExec, stream):  # noqa: N802, N803
        log.add("graph_launch")
        for work in graphExec.work:
            work()
        return (ok,)

    def cudaGraphDestroy(graph):  # noqa: N802
        return (ok,)

    def cudaGraphExecDestroy(graphExec):  # noqa: N802, N803
        log.add("graph_exec_destroy")
        return (ok,)

    rt.__dict__.update(
        cudaStreamCaptureMode=cudaStreamCaptureMode, cudaError_t=cudaError_t,
        cudaStreamBeginCapture=cudaStreamBeginCapture, cudaStreamEndCapture=cudaStreamEndCapture,
        cudaGraphInstantiate=cudaGraphInstantiate, cudaGraphLaunch=cudaGraphLaunch,
        cudaGraphDestroy=cudaGraphDestroy, cudaGraphExecDestroy=cudaGraphExecDestroy,
    )
    return rt


class _NoDriver(importlib.abc.MetaPathFinder):
    """``import pycuda.driver`` fails the way it does when pycuda is installed but libcuda.so.1 is not."""

    def find_spec(self, name, path=None, target=None):
        if name in ("pycuda", "pycuda.driver"):
            raise ImportError("libcuda.so.1: cannot open shared object file: No such file or directory")
        return None


def pycuda_without_driver(monkeypatch: Any) -> None:
    """Make ``import pycuda.driver`` fail as it does with pycuda installed and no libcuda.so.1 (pytest monkeypatch)."""
    monkeypatch.delitem(sys.modules, "pycuda", raising=False)
    monkeypatch.delitem(sys.modules, "pycuda.driver", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoDriver(), *sys.meta_path])
