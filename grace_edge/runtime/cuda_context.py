"""The CUDA context the TensorRT backend runs in, via pycuda.

We retain the device's *primary* context (the one the CUDA runtime, TensorRT and other libraries share) instead of
creating a private one, and push/pop it around every piece of CUDA work on whatever thread does it. We never import
``pycuda.autoinit``: it creates a context bound to the importing thread, which breaks a line controller that calls the
detector from worker threads.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from grace_edge.errors import BackendUnavailable, InputError

INSTALL_HINT = "install the TensorRT extra on the GPU machine: pip install 'grace-edge[tensorrt]'"


def import_pycuda() -> Any:
    """``pycuda.driver``, or a clear BackendUnavailable error."""
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        raise BackendUnavailable(f"pycuda is not installed ({e}); {INSTALL_HINT}") from None
    return cuda


def parse_device(device: str) -> int:
    """``"auto"``/``"cuda"`` -> 0, ``"cuda:N"`` or ``"N"`` -> N."""
    text = str(device).strip().lower()
    if text in ("auto", "cuda", "gpu"):
        return 0
    index = text.split(":", 1)[1] if text.startswith("cuda:") else text
    if not index.isdigit():
        raise InputError(f"device {device!r}: use 'auto', 'cuda', 'cuda:N' or 'cpu'")
    return int(index)


class PrimaryContext:
    """The retained primary context of one GPU; ``with ctx.active():`` makes it current on this thread."""

    def __init__(self, device_index: int = 0) -> None:
        cuda = import_pycuda()
        self.driver = cuda  # pycuda.driver, for the backend's allocations and copies
        try:
            cuda.init()
            count = cuda.Device.count()
        except Exception as e:  # pycuda raises driver errors (no driver, no device) as its own types
            raise BackendUnavailable(f"CUDA is not usable on this machine ({e})") from None
        if count == 0:
            raise BackendUnavailable("no CUDA GPU found; run .onnx artifacts (ONNX Runtime, CPU) here instead")
        if not 0 <= device_index < count:
            raise InputError(f"device cuda:{device_index}: this machine has {count} CUDA device(s)")
        self.device = cuda.Device(device_index)
        self._context = self.device.retain_primary_context()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Push the context on the calling thread for the block, pop it afterwards (even on error)."""
        if self._context is None:
            raise BackendUnavailable("the CUDA context was already released")
        self._context.push()
        try:
            yield
        finally:
            self.driver.Context.pop()

    def release(self) -> None:
        """Drop our reference on the primary context (call once, after freeing every CUDA object)."""
        if self._context is not None:
            self._context.detach()
            self._context = None
