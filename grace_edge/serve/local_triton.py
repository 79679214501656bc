"""Start the ``tritonserver`` that the ``nvidia-pytriton`` wheel bundles, for tests and benchmarks on any machine.

That binary is a real Triton (2.51) with only the python backend, so it serves repositories written with
``grace-edge triton-repo --backend python``. It runs its python models in a separate Python environment (``env``,
a venv with ``nvidia-pytriton``, ``grace-edge`` and numpy < 2), which need not be the caller's:

- the wheel keeps the backend stub per Python version aside; it is copied next to the python backend once;
- the stub links a shared libpython: a pyenv/venv Python needs its ``LIBDIR`` on ``LD_LIBRARY_PATH``;
- the stub takes its packages from the ``python`` first on ``PATH`` (it ignores ``PYTHONPATH``);
- it stops cleanly on SIGTERM.

Production serving uses NVIDIA's Triton containers instead (see the README's "many lines" section).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grace_edge.errors import BackendUnavailable

_PROBE = (
    "import json, sys, sysconfig, pathlib, pytriton;"
    "root = pathlib.Path(pytriton.__file__).parent / 'tritonserver';"
    "print(json.dumps({'root': str(root), 'libdir': sysconfig.get_config_var('LIBDIR'),"
    " 'version': f'{sys.version_info[0]}.{sys.version_info[1]}'}))"
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on the loopback interface."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _server_layout(env: Path) -> dict[str, Any]:
    python = env / "bin" / "python"
    if not python.exists():
        raise BackendUnavailable(f"{env}: no Python environment there (expected {python})")
    run = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True)
    if run.returncode != 0:
        raise BackendUnavailable(f"{env}: nvidia-pytriton is not installed there ({run.stderr.strip().splitlines()[-1:]})")
    layout = json.loads(run.stdout)
    root = Path(layout["root"])
    stub = root / "backends" / "python" / "triton_python_backend_stub"
    if not stub.exists():  # the wheel ships one stub per Python version beside the backend, not in it
        shutil.copy2(root / "python_backend_stubs" / layout["version"] / "triton_python_backend_stub", stub)
    return layout


@dataclass
class LocalTriton:
    """A running local tritonserver; use as a context manager or call :meth:`stop`."""

    process: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path
    _log: Any = field(repr=False, default=None)

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (Triton finishes in-flight requests and unloads models), SIGKILL if it hangs; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode

    def __enter__(self) -> "LocalTriton":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_local_triton(repository: Path, env: Path, log_path: Path, ready_timeout: float = 90.0,
                       ports: tuple[int, int, int] | None = None) -> LocalTriton:
    """Start tritonserver from ``env`` on ``repository`` on loopback ``ports`` (http, grpc, metrics; default: free
    ones); return once it is ready."""
    layout = _server_layout(Path(env))
    root = Path(layout["root"])
    http, grpc, metrics = ports or free_ports(3)
    environ = dict(os.environ)
    environ["PATH"] = f"{Path(env) / 'bin'}:{environ.get('PATH', '')}"
    environ["LD_LIBRARY_PATH"] = ":".join(p for p in (layout["libdir"], environ.get("LD_LIBRARY_PATH")) if p)
    environ.pop("PYTHONPATH", None)  # the stub ignores it; the env's own packages are what the models get
    log = open(log_path, "w")
    process = subprocess.Popen(
        [str(root / "bin" / "tritonserver"), f"--model-repository={repository}",
         f"--backend-directory={root / 'backends'}", f"--cache-directory={root / 'caches'}",
         f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}",
         "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
         "--allow-gpu-metrics=false", "--exit-timeout-secs=10"],
        stdout=log, stderr=subprocess.STDOUT, env=environ)
    server = LocalTriton(process, http, grpc, metrics, Path(log_path), log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            raise BackendUnavailable(f"tritonserver exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.25)
    server.stop()
    raise BackendUnavailable(f"tritonserver not ready after {ready_timeout:.0f} s:\n{server.log_tail()}")
