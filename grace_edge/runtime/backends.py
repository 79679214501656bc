"""The backend registry: which runtime runs which artifact, one line per backend (mmdeploy's ``BACKEND_MANAGERS``).

A backend is one module that gives:
- ``TITLE``: how messages name it; ``ACCEPTS``: the :class:`RuntimeOptions` fields it takes besides ``backend`` and
  ``device`` (any other field set away from its default is refused in one line, naming who takes it);
- ``problem() -> str | None``: why it cannot run here (not installed, no GPU), or None;
- ``open_backend(source, options, workers) -> Backend``: the opened runtime, whose ``create_slot()`` gives the per-request
  slots :class:`~grace_edge.runtime.detector.Detector` runs (its I/O checked by :mod:`grace_edge.runtime.io_check`);
- ``build_artifact(model, meta, **build) -> BuiltArtifact`` (local backends): the file ``grace-edge build`` writes
  for it from the final ONNX model's bytes (see :mod:`grace_edge.engine.targets`).

Adding a backend = its module + one :data:`REGISTRY` line. ``auto`` takes the first backend listed for the artifact.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grace_edge.artifact import ENGINE_MAGIC, OnnxModel
from grace_edge.errors import ArtifactError, InputError
from grace_edge.runtime.options import RuntimeOptions

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
SERVER_SCHEMES = ("grpc", "http", "https")


@dataclass(frozen=True)
class BuiltArtifact:
    """What a backend's build step hands back: the artifact's bytes, its metadata, and notes for the build log."""

    data: bytes
    meta: Any  # grace_edge.artifact.ArtifactMeta
    notes: list[str]


@dataclass(frozen=True)
class BackendEntry:
    name: str
    module: str  # the one file that implements it
    runs: str  # what it opens: "onnx", "engine" or "url"
    device: str  # where the graph runs: "cpu", "gpu" or "server"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


REGISTRY: tuple[BackendEntry, ...] = (
    BackendEntry("onnxruntime", "grace_edge.runtime.onnxruntime_backend", runs="onnx", device="cpu"),
    BackendEntry("openvino", "grace_edge.runtime.openvino_backend", runs="onnx", device="cpu"),
    BackendEntry("tensorrt", "grace_edge.runtime.tensorrt_backend", runs="engine", device="gpu"),
    BackendEntry("triton", "grace_edge.runtime.triton_backend", runs="url", device="server"),
)
BY_NAME = {e.name: e for e in REGISTRY}
# What --backend offers: the local runtimes (a server is chosen by giving its URL as the artifact).
BACKEND_CHOICES = ("auto", *(e.name for e in REGISTRY if e.runs != "url"))


def is_server_url(path: Any) -> bool:
    """True for ``grpc://...``, ``http://...`` and ``https://...``: a model on a Triton server."""
    return isinstance(path, str) and path.split("://", 1)[0].lower() in SERVER_SCHEMES and "://" in path


def artifact_kind(path: Path) -> str:
    """``"engine"`` (a grace-edge TensorRT engine) or ``"onnx"``, by suffix, else by the engine header."""
    if not path.is_file():
        raise ArtifactError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        return "engine"
    if suffix == ".onnx":
        return "onnx"
    try:
        with open(path, "rb") as f:
            return "engine" if f.read(len(ENGINE_MAGIC)) == ENGINE_MAGIC else "onnx"
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read the file ({e.strerror or type(e).__name__})") from None


def check_backend_name(name: str) -> str:
    if name != "auto" and name not in BY_NAME:
        raise InputError(f"backend {name!r}: choose one of {', '.join(BACKEND_CHOICES)}")
    return name


def choose(source: Any, options: RuntimeOptions) -> BackendEntry:
    """The registered backend that runs ``source`` with ``options``, after checking it takes them."""
    if is_server_url(source):
        local = {k: v for k, v in options.changed().items()}
        if local:
            raise InputError(f"{source}: {', '.join(local)} apply to local artifacts; the server chooses its own")
        return BY_NAME["triton"]
    check_backend_name(options.backend)
    kind = "onnx" if isinstance(source, OnnxModel) else artifact_kind(Path(source))
    entry = next(e for e in REGISTRY if e.runs == kind) if options.backend == "auto" else BY_NAME[options.backend]
    _check_device(entry, options.device, Path(_origin(source)))
    _check_options(entry, options)
    if entry.runs != kind:
        raise InputError(_wrong_kind(Path(_origin(source)), kind, entry))
    return entry


def _origin(source: Any) -> str:
    return source.origin if isinstance(source, OnnxModel) else str(source)


def _wrong_kind(path: Path, kind: str, entry: BackendEntry) -> str:
    if kind == "engine":
        return (f"{path}: a TensorRT engine runs on backend 'tensorrt', not {entry.name!r}; open the .onnx it was "
                "built from")
    cpu = " or ".join(e.name for e in REGISTRY if e.runs == "onnx")
    return (f"{path}: ONNX models run on a CPU backend here ({cpu}, device 'auto' or 'cpu'); for the GPU build an "
            "engine with 'grace-edge build'")


def _check_device(entry: BackendEntry, device: str, path: Path) -> None:
    if entry.device == "gpu" and device == "cpu":
        raise InputError(f"{path}: a TensorRT engine runs only on a GPU; on CPU open the .onnx it was built from")
    if entry.device == "cpu" and device not in ("auto", "cpu"):
        raise InputError(_wrong_kind(path, "onnx", entry))


def _check_options(entry: BackendEntry, options: RuntimeOptions) -> None:
    """Every option set away from its default must be one the backend takes (``ACCEPTS`` in its module)."""
    for field, value in options.changed().items():
        if field in ("backend", "device") or field in entry.load().ACCEPTS:
            continue
        takers = [BY_NAME[e.name].load().TITLE for e in REGISTRY if e.runs != "url" and field in e.load().ACCEPTS]
        raise InputError(f"{field}={value!r} applies to {' and '.join(takers)} only, not to {entry.load().TITLE}")


def open_backend(source: Any, options: RuntimeOptions | None = None, workers: int = 1) -> Any:
    """The opened backend for ``source`` (an artifact path, an :class:`OnnxModel` already in memory, or a server
    URL), for ``workers`` runs in flight."""
    options = options or RuntimeOptions()
    entry = choose(source, options)
    if entry.runs == "onnx" and not isinstance(source, OnnxModel):
        source = OnnxModel.read(source)  # read and checked once; the runtime loads exactly these bytes
    return entry.load().open_backend(source if entry.runs != "engine" else Path(source), options, workers)


def cpu_threads(workers: int) -> int:
    """Threads per run on a CPU backend: runs in flight share the cores instead of each taking all
    (2 runs x 2 threads on 2 cores gave 3.3 frames/s where 2 x 1 gave 4.6; benchmarks/serve_vs_embedded.py)."""
    import os

    return max(1, (os.cpu_count() or 1) // workers)
