"""``RuntimeOptions``: how an artifact is run, one typed record from the command line to the backend.

It travels through build (which target to build, what the accuracy gate runs on), val, bench, the line service and
``Detector.open``, so a mistyped or wrongly typed option fails where it is made, in one line, instead of deep in a
backend. Which backend takes which option is the backend's own fact (``ACCEPTS`` in its module,
:mod:`grace_edge.runtime.backends`), checked once when the backend is chosen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from grace_edge.errors import InputError

SYNC_MODES = ("blocking", "spin")  # how a thread waits for the GPU (grace_edge.runtime.cuda_streams)
INFERENCE_PRECISIONS = ("fp32", "bf16")  # OpenVINO's compute hints (grace_edge.runtime.openvino_backend)


@dataclass(frozen=True)
class RuntimeOptions:
    """``backend``: ``auto`` or a registered backend's name; ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``;
    ``inference_precision``: OpenVINO's hint; ``shared_cpu``: CPU threads sleep instead of spinning and are not
    pinned; ``cuda_graph`` and ``sync``: TensorRT's enqueue and wait. See :meth:`Detector.open`."""

    backend: str = "auto"
    device: str = "auto"
    inference_precision: str = "fp32"
    shared_cpu: bool = False
    cuda_graph: bool = False
    sync: str = "blocking"

    def __post_init__(self) -> None:
        for name in ("backend", "device", "inference_precision", "sync"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InputError(f"{name} {value!r} must be a string")
            object.__setattr__(self, name, value.strip().lower())
        for name in ("shared_cpu", "cuda_graph"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} {getattr(self, name)!r} must be True or False")
        if self.inference_precision not in INFERENCE_PRECISIONS:
            raise InputError(f"inference precision {self.inference_precision!r}: choose one of "
                             f"{', '.join(INFERENCE_PRECISIONS)}")
        if self.sync not in SYNC_MODES:
            raise InputError(f"sync {self.sync!r}: choose one of {', '.join(SYNC_MODES)}")

    @classmethod
    def of(cls, value: "RuntimeOptions | dict[str, Any] | None" = None, **changes: Any) -> "RuntimeOptions":
        """``value`` (options, a dict of their fields, or None for the defaults) with ``changes``; an unknown field
        is one InputError line naming it."""
        if isinstance(value, RuntimeOptions):
            fields = dataclasses.asdict(value)
        elif value is None:
            fields = {}
        elif isinstance(value, dict):
            fields = dict(value)
        else:
            raise InputError(f"runtime options {value!r} must be RuntimeOptions or a dict of its fields")
        fields.update(changes)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InputError(f"unknown runtime option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return cls(**fields)

    def changed(self) -> dict[str, Any]:
        """The fields set away from their defaults (what a backend must accept)."""
        default = RuntimeOptions()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    def describe(self) -> str:
        """``backend openvino, shared_cpu`` style text for logs and reports; ``defaults`` when nothing is set."""
        parts = [f"{k} {v}" if not isinstance(v, bool) else k for k, v in self.changed().items()]
        return ", ".join(parts) or "defaults"
