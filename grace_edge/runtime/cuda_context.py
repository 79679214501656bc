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

INSTALL_HINT = ("install the TensorRT extra that matches the GPU machine's CUDA: pip install "
                "'grace-edge[tensorrt-cu12]' (CUDA 12, JetPack 6.1+) or 'grace-edge[tensorrt-cu13]' (CUDA 13); "
                "then run 'grace-edge doctor'")
DRIVER_HINT = ("check the NVIDIA driver: 'nvidia-smi' must list the GPU, libcuda.so.1 must be loadable, and the driver "
               "must support the CUDA version TensorRT was built for; 'grace-edge doctor' shows the versions")
NULLPTR = "factory function returned nullptr"  # pybind11's TypeError when a TensorRT object cannot be created


def import_pycuda() -> Any:
    """``pycuda.driver``, or a clear BackendUnavailable error that tells "not installed" from "does not load"."""
    try:
        import pycuda.driver as cuda
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] == "pycuda":
            raise BackendUnavailable(f"pycuda is not installed; {INSTALL_HINT}") from None
        raise BackendUnavailable(f"pycuda is installed but does not load ({e}); {DRIVER_HINT}") from None
    except ImportError as e:  # e.g. "libcuda.so.1: cannot open shared object file": pycuda is there, the driver not
        raise BackendUnavailable(f"pycuda is installed but does not load ({e}); {DRIVER_HINT}") from None
    return cuda


def create_tensorrt(factory: Any, *args: Any) -> Any:
    """``factory(*args)`` for ``trt.Builder``/``trt.Runtime``; CUDA failing to initialise -> BackendUnavailable.

    The bindings report that as a bare ``TypeError: pybind11::init(): factory function returned nullptr``.
    """
    try:
        return factory(*args)
    except TypeError as e:
        if NULLPTR not in str(e):
            raise
        name = getattr(factory, "__name__", "object")
        raise BackendUnavailable(f"TensorRT could not create its {name} ({e}): CUDA did not initialise; "
                                 f"{DRIVER_HINT}") from None


def parse_device(device: str) -> int:
    """``"auto"``/``"cuda"`` -> 0, ``"cuda:N"`` or ``"N"`` -> N (the one device parser: grace_edge.devices)."""
    from grace_edge.devices import cuda_index

    return cuda_index(device)


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
        """Drop our reference on the primary context (call once, after freeing every CUDA object), from any thread.

        pycuda's ``detach()`` releases a primary context only while it is current on the calling thread, or on the
        thread that retained it; from any other thread it silently releases nothing (pycuda src/cpp/cuda.hpp,
        ``context::detach``), which would leak the context's GPU memory when a detector is closed from another
        thread. So: push it, then detach while current, which also takes it off pycuda's stack for this thread
        (CUDA's own stack keeps the handle, which stays valid: a primary context is reset, not destroyed).
        """
        if self._context is not None:
            context, self._context = self._context, None
            context.push()
            context.detach()


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in ("tensorrt", "tensorrt_bindings"):
            raise BackendUnavailable(f"TensorRT is not installed; {INSTALL_HINT}") from None
        raise BackendUnavailable(f"TensorRT is installed but its native libraries do not load ({e}); "
                                 f"{DRIVER_HINT}") from None
    except (ImportError, OSError) as e:  # e.g. "libnvinfer.so.10: cannot open shared object file" (either type)
        raise BackendUnavailable(f"TensorRT is installed but its native libraries do not load ({e}); "
                                 f"{DRIVER_HINT}") from None
    return trt
