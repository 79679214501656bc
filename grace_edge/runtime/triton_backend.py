"""``RemoteDetector``: :class:`~grace_edge.runtime.Detector` with a Triton server where the local backend was.

    det = Detector.open("grpc://triton:8001/grace")      # or http://triton:8000/grace, .../grace/2 for version 2
    rows = det.detect(frame)[0]

It *is* a Detector: the same ``detect`` / ``detect_arrays`` / ``submit`` / ``close``, the same input checks (an
InputError before anything is sent), the same host-side letterbox, score threshold and box mapping, so results equal
the embedded Detector's row for row. Only the graph runs on the server: :class:`TritonBackend` implements the
backend protocol (``create_slot``, ``slot.run``) over ``tritonclient`` gRPC or HTTP. The artifact's metadata comes
from the model's ``config.pbtxt`` (``parameters["grace_edge"]``, written by ``grace-edge triton-repo``).

- batches above the server's ``max_batch_size`` are split (by Detector, as for any backend);
- ``num_detections`` arrives as [B, 1] (Triton has no empty dims) and is reshaped to [B];
- a server that is gone (connection refused, UNAVAILABLE, a connection cut mid-response) is retried with a fresh
  connection; after ``retries`` tries it is one :class:`ServerUnavailable` line. Inference is stateless, so a
  retried request is safe; a call raises or returns every image's result, never part of them.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from grace_edge.artifact import INPUT_NAME, OUTPUT_COUNT, OUTPUT_DETECTIONS, ArtifactMeta
from grace_edge.errors import ArtifactError, BackendUnavailable, GraceEdgeError, InputError
from grace_edge.runtime.backends import is_server_url
from grace_edge.runtime.detector import Detector
from grace_edge.runtime.options import RuntimeOptions

TITLE = "a Triton server"
ACCEPTS: frozenset[str] = frozenset()  # the server chooses its own runtime
META_PARAMETER = "grace_edge"  # the same key grace_edge.serve.triton_repo writes
DEFAULT_PORTS = {"grpc": 8001, "http": 8000, "https": 8000}


def problem() -> str | None:
    """Why no server can be reached from here (tritonclient missing), or None."""
    try:
        _client_module("grpc")
    except BackendUnavailable as e:
        return str(e)
    return None


def open_backend(url: str, options: RuntimeOptions, workers: int) -> "TritonBackend":
    """The registry's entry point (the server's defaults for timeout and retries; RemoteDetector.open sets them)."""
    return TritonBackend(url)


class ServerUnavailable(BackendUnavailable):
    """The Triton server does not answer (not running, wrong address, network down)."""


@dataclass(frozen=True)
class ServerAddress:
    """``scheme://host:port/model[/version]`` split up."""

    scheme: str
    host: str
    model: str
    version: str  # "" = the newest version the server has loaded

    @classmethod
    def parse(cls, url: str) -> "ServerAddress":
        if not is_server_url(url):
            raise InputError(f"{url!r} is not a server URL (grpc://host:8001/MODEL or http://host:8000/MODEL)")
        scheme, rest = url.split("://", 1)
        scheme = scheme.lower()
        host, _, path = rest.partition("/")
        parts = [p for p in path.split("/") if p]
        if not host or not 1 <= len(parts) <= 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise InputError(f"{url}: expected {scheme}://HOST[:PORT]/MODEL[/VERSION], e.g. "
                             f"{scheme}://localhost:{DEFAULT_PORTS[scheme]}/grace")
        if ":" not in host.rsplit("]", 1)[-1]:
            host = f"{host}:{DEFAULT_PORTS[scheme]}"
        return cls(scheme, host, parts[0], parts[1] if len(parts) == 2 else "")

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}/{self.model}" + (f"/{self.version}" if self.version else "")


def _client_module(scheme: str) -> Any:
    try:
        if scheme == "grpc":
            import tritonclient.grpc as client
        else:
            import tritonclient.http as client
    except ImportError:
        raise BackendUnavailable(f"{scheme}:// needs tritonclient: pip install 'grace-edge[triton]'") from None
    return client


class _Connection:
    """tritonclient clients with retry/reconnect; one connection per slot, so requests in flight never share one.

    The HTTP client runs on gevent, whose sockets belong to the thread that made them, while a Detector slot is used
    by whichever thread borrows it: so HTTP gets one client per (slot, thread); gRPC clients are thread-safe."""

    def __init__(self, address: ServerAddress, timeout: float, retries: int) -> None:
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self._module = _client_module(address.scheme)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Any] = []

    def _connect(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            if self.address.scheme == "grpc":
                client = self._module.InferenceServerClient(url=self.address.host)
            else:
                client = self._module.InferenceServerClient(
                    url=self.address.host, ssl=self.address.scheme == "https",
                    connection_timeout=self.timeout, network_timeout=self.timeout)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _drop(self) -> None:
        """Forget this thread's client (after a lost connection), so the next try connects afresh."""
        client, self._local.client = getattr(self._local, "client", None), None
        if client is not None:
            with self._lock:
                self._clients = [c for c in self._clients if c is not client]
            _close_quietly(client)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            _close_quietly(client)

    def call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)`` with retries on a lost connection; other server errors are one GraceEdgeError line."""
        from tritonclient.utils import InferenceServerException

        delay, last = 0.1, ""
        for attempt in range(self.retries + 1):
            try:
                return fn(self._connect())
            except InferenceServerException as e:
                if not _is_connection_error(e):
                    raise GraceEdgeError(f"{self.address}: {what} failed on the server ({_one_line(e)})") from None
                last = _one_line(e)
            except (OSError, http.client.HTTPException) as e:  # HTTP: refused / reset sockets; a connection cut
                last = f"{type(e).__name__}: {e}"  # mid-response is geventhttpclient's HTTPConnectionClosed
            self._drop()  # reconnect from scratch on the next try
            if attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 3, 2.0)
        raise ServerUnavailable(f"{self.address}: no Triton server answers ({last}) after {self.retries + 1} tries; "
                                "is it running, and are host and port right?")


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:  # closing a connection to a dead server (or from another thread, on gevent) may fail
        pass


def _one_line(e: Exception) -> str:
    msg = e.message() if hasattr(e, "message") and callable(e.message) else str(e)
    return (str(msg).strip().splitlines() or [type(e).__name__])[0][:300]


def _is_connection_error(e: Exception) -> bool:
    status = str(e.status() if hasattr(e, "status") and callable(e.status) else "") or ""
    text = _one_line(e).lower()
    return ("UNAVAILABLE" in status or status in ("502", "503", "504")
            or any(w in text for w in ("connection refused", "failed to connect", "connection reset", "broken pipe",
                                       "socket closed", "timed out")))


def _unwrap(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("config", config)  # gRPC wraps the ModelConfig in {"config": ...}; HTTP does not


def _meta_from_config(config: dict[str, Any], version: str, origin: str) -> ArtifactMeta:
    text = config.get("parameters", {}).get(META_PARAMETER, {}).get("string_value")
    if not text:
        raise ArtifactError(f"{origin}: the model's config has no grace-edge metadata; write its repository with "
                            "'grace-edge triton-repo'")
    try:
        per_version = json.loads(text)
        meta = per_version[version]
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(f"{origin}: the model's grace-edge metadata has no entry for version {version}") from None
    return ArtifactMeta.from_json(json.dumps(meta), origin=origin)


def _check_config(config: dict[str, Any], meta: ArtifactMeta, origin: str) -> int:
    """The server's max batch, after checking its tensors are the ones ``meta`` describes."""
    max_batch = int(config.get("max_batch_size", 0) or 0)
    if max_batch < 1:
        raise ArtifactError(f"{origin}: max_batch_size {max_batch}; a grace-edge model batches (max_batch_size >= 1)")
    inputs = {i["name"]: i for i in config.get("input", [])}
    outputs = {o["name"] for o in config.get("output", [])}
    spec = inputs.get(INPUT_NAME, {})
    want_type = meta.input.triton_config_type
    dims = tuple(int(d) for d in spec.get("dims", []))
    if set(inputs) != {INPUT_NAME} or spec.get("data_type") != want_type or dims != tuple(meta.input_shape) \
            or not {OUTPUT_DETECTIONS, OUTPUT_COUNT} <= outputs:
        raise ArtifactError(f"{origin}: the served tensors ({sorted(inputs)} {spec.get('data_type')} {list(dims)} -> "
                            f"{sorted(outputs)}) are not the grace-edge graph its metadata describes "
                            f"({INPUT_NAME} {want_type} {list(meta.input_shape)})")
    return max_batch


class TritonBackend:
    """The Detector backend protocol over a model on a Triton server."""

    name = "triton"
    detector_class: type  # RemoteDetector, set below: Detector.open hands a server's model to it

    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 3) -> None:
        self.address = ServerAddress.parse(url)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._probe = _Connection(self.address, self.timeout, self.retries)
        try:
            self.version, config = self._describe()
        finally:
            self._probe.close()
        self.meta = _meta_from_config(config, self.version, str(self.address))
        self.max_batch = _check_config(config, self.meta, str(self.address))
        self.min_batch = 1
        self.name = f"triton-{self.address.scheme}"

    def _describe(self) -> tuple[str, dict[str, Any]]:
        a, grpc = self.address, self.address.scheme == "grpc"
        extra = {"client_timeout": self.timeout} if grpc else {}
        live = self._probe.call("liveness check", lambda c: c.is_server_live(**extra))
        if not live:
            raise ServerUnavailable(f"{a}: the Triton server answers but is not live")
        try:
            metadata = self._probe.call("model metadata", lambda c: c.get_model_metadata(
                a.model, a.version, as_json=True, **extra) if grpc else c.get_model_metadata(a.model, a.version))
        except ServerUnavailable:
            raise
        except GraceEdgeError as e:
            raise ArtifactError(f"{a}: the server has no ready model '{a.model}'"
                                f"{' version ' + a.version if a.version else ''} ({str(e).split('(', 1)[-1]}") from None
        version = a.version or str(max(int(v) for v in metadata.get("versions", ["1"])))
        config = self._probe.call("model config", lambda c: c.get_model_config(
            a.model, version, as_json=True, **extra) if grpc else c.get_model_config(a.model, version))
        return version, _unwrap(config)

    def create_slot(self) -> "TritonSlot":
        return TritonSlot(self)

    def close(self) -> None:
        pass  # every connection belongs to a slot


class TritonSlot:
    """One request in flight: its own input buffer and its own connection."""

    def __init__(self, backend: TritonBackend) -> None:
        meta = backend.meta
        self.backend = backend
        self.wire_type = meta.input.triton
        self.inputs = np.zeros((backend.max_batch, *meta.input_shape), dtype=meta.input.dtype)
        self.connection = _Connection(backend.address, backend.timeout, backend.retries)

    def input_buffer(self, n: int) -> np.ndarray:
        return self.inputs[:n]

    def run(self, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        b, a = self.backend, self.backend.address
        module = self.connection._module
        t0 = time.perf_counter()

        def infer(client: Any) -> Any:
            tensor = module.InferInput(INPUT_NAME, [n, *b.meta.input_shape], self.wire_type)
            tensor.set_data_from_numpy(self.inputs[:n])
            wanted = [module.InferRequestedOutput(OUTPUT_DETECTIONS), module.InferRequestedOutput(OUTPUT_COUNT)]
            if a.scheme == "grpc":
                return client.infer(a.model, [tensor], model_version=b.version, outputs=wanted,
                                    client_timeout=b.timeout)
            return client.infer(a.model, [tensor], model_version=b.version, outputs=wanted)

        result = self.connection.call("inference", infer)
        detections, counts = result.as_numpy(OUTPUT_DETECTIONS), result.as_numpy(OUTPUT_COUNT)
        want = (n, b.meta.max_det, 6)
        if detections is None or counts is None or detections.shape != want or counts.size != n:
            got = [None if x is None else list(x.shape) for x in (detections, counts)]
            raise ArtifactError(f"{a}: the server returned outputs of shapes {got}, expected {list(want)} and [{n}, 1] "
                                "(a python-backend model under numpy 2 returns empty outputs: it needs numpy < 2)")
        compute = time.perf_counter() - t0
        return detections, counts.reshape(n), {"h2d": 0.0, "compute": compute, "d2h": 0.0}

    def close(self) -> None:
        self.connection.close()


class RemoteDetector(Detector):
    """A Detector whose graph runs on a Triton server; open it with ``Detector.open("grpc://host:8001/MODEL")``."""

    @classmethod
    def open(cls, url: str, *, conf: float = 0.25, workers: int = 1, timeout: float = 10.0,  # type: ignore[override]
             retries: int = 3, thresholds: Any = None) -> "RemoteDetector":
        """Connect to model ``MODEL`` (optionally ``/VERSION``) on the server at ``url``; ``workers`` requests in
        flight at once (each with its own connection); ``timeout`` seconds per request; ``retries`` on a lost
        connection before :class:`ServerUnavailable`; ``thresholds`` as in :meth:`Detector.open`."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers {workers!r} must be an integer >= 1")
        if not timeout > 0:
            raise InputError(f"timeout {timeout!r} must be > 0 seconds")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError(f"retries {retries!r} must be an integer >= 0")
        backend = TritonBackend(url, timeout=timeout, retries=retries)
        return cls._from_backend(backend, str(backend.address), conf, workers,  # type: ignore[return-value]
                                 thresholds)

    @property
    def version(self) -> str:
        """The model version on the server whose metadata and results these are."""
        return self._backend.version  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"conf={self._conf}, workers={self._workers}"
        return f"RemoteDetector({str(self.path)!r}, version={self.version}, {state})"


TritonBackend.detector_class = RemoteDetector
