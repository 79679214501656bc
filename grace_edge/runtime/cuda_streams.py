"""How the TensorRT backend makes its CUDA streams and events (pycuda), and how a wait for a result is done.

- Streams are created NON_BLOCKING: a stream made with flags 0 synchronises with the legacy default stream, so any
  other CUDA user in the process (a camera SDK, OpenCV's CUDA module) serialises with our work and breaks our
  CUDA-graph capture whenever it touches the default stream. pycuda has no enum for stream flags; the value is
  CUDA's ``CU_STREAM_NON_BLOCKING`` (cuda.h; cuda-python's ``cudaStreamNonBlocking``), 1.
- Events are created with ``event_flags.BLOCKING_SYNC`` by default (``sync="blocking"``): waiting on one puts the
  thread to sleep until the GPU signals, instead of spinning a CPU core per waiting worker, which a Jetson's CPU needs
  for preprocessing. ``sync="spin"`` busy-waits: a little lower latency on a desktop GPU with cores to spare.
  Timing stays enabled on both (the stage times come from ``Event.time_since``).
"""

from __future__ import annotations

from typing import Any

from grace_edge.errors import InputError

CU_STREAM_NON_BLOCKING = 1  # cuda.h CUstream_flags; pycuda's Stream(flags) passes it to cuStreamCreate
SYNC_MODES = ("blocking", "spin")
DEFAULT_SYNC = "blocking"


def check_sync(sync: str) -> str:
    if sync not in SYNC_MODES:
        raise InputError(f"sync={sync!r}: choose {' or '.join(repr(m) for m in SYNC_MODES)}")
    return sync


def new_stream(cuda: Any) -> Any:
    """A stream that does not synchronise with the legacy default stream (call with a context current)."""
    return cuda.Stream(CU_STREAM_NON_BLOCKING)


def event_flags(cuda: Any, sync: str) -> int:
    """pycuda event flags for ``sync``: BLOCKING_SYNC (the waiting thread sleeps) or DEFAULT (it spins)."""
    if check_sync(sync) == "blocking":
        return int(cuda.event_flags.BLOCKING_SYNC)
    return int(cuda.event_flags.DEFAULT)


def new_event(cuda: Any, sync: str = DEFAULT_SYNC) -> Any:
    return cuda.Event(event_flags(cuda, sync))


def describe(sync: str = DEFAULT_SYNC) -> str:
    """One line for ``grace-edge doctor`` and ``bench``: the stream and event settings in use."""
    wait = "BLOCKING_SYNC (waiting threads sleep)" if sync == "blocking" else "DEFAULT (waiting threads spin)"
    return f"streams CU_STREAM_NON_BLOCKING; events {wait}, sync={sync!r}"
