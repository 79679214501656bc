"""Serving many lines from one NVIDIA Triton Inference Server.

- :func:`write_triton_repo` (``grace-edge triton-repo``) turns artifacts into a standard Triton model repository;
- :class:`RemoteDetector` is :class:`~grace_edge.runtime.Detector` with Triton in place of the local backend
  (``Detector.open("grpc://host:8001/grace")``): same calls, same input checks, same results.

grace-edge feeds Triton; it does not implement a server of its own.
"""

from __future__ import annotations

from grace_edge._lazy import lazy_getattr

_EXPORTS = {
    "RemoteDetector": "grace_edge.runtime.triton_backend",
    "write_triton_repo": "grace_edge.serve.triton_repo",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
