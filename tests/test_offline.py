"""Offline by construction: Ultralytics is configured once, and a train + val + export run opens no connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Runs in a child process: every name lookup and every internet-socket connect is recorded and refused.
_GUARDED_RUN = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []

    def _refuse(what):
        attempts.append(what)
        raise OSError(f"network access attempted: {what}")

    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"connect {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"connect_ex {address!r}")
        return _connect_ex(self, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = lambda *a, **k: _refuse(f"getaddrinfo {a[:2]!r}")
    socket.gethostbyname = lambda *a, **k: _refuse(f"gethostbyname {a[:1]!r}")
    socket.create_connection = lambda *a, **k: _refuse(f"create_connection {a[:1]!r}")

    from grace_edge.cli import main
    codes = [main(argv) for argv in json.loads(sys.argv[1])]
    print("GUARD-RESULT " + json.dumps({"codes": codes, "attempts": attempts}))
    """
)


def _fresh_env(home: Path) -> dict[str, str]:
    """The environment with a new grace-edge home and no Ultralytics settings inherited from this process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    return {**env, "GRACE_EDGE_HOME": str(home)}


def test_configure_sets_offline_environment(tmp_path: Path) -> None:
    code = (
        "from grace_edge.ultralytics_setup import configure; configure(); import os, torch;"
        "from ultralytics.utils import SETTINGS, ONLINE, USER_CONFIG_DIR;"
        "import ultralytics.utils as u; from ultralytics.utils.checks import check_font;"
        "print(os.environ['YOLO_OFFLINE'], os.environ['YOLO_AUTOINSTALL'], SETTINGS['sync'], u.ONLINE,"
        " torch.get_num_threads() == os.cpu_count(), check_font('Arial.ttf') is not None,"
        " str(USER_CONFIG_DIR).startswith(os.environ['GRACE_EDGE_HOME']))"
    )
    env = {k: v for k, v in _fresh_env(tmp_path).items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-7:] == ["true", "false", "False", "False", "True", "True", "True"]


def test_omp_num_threads_wins_over_all_cores(tmp_path: Path) -> None:
    code = "from grace_edge.ultralytics_setup import configure; configure(); import torch; print(torch.get_num_threads())"
    env = {**_fresh_env(tmp_path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "1"


@pytest.mark.slow
@pytest.mark.data
def test_train_val_export_make_no_network_attempt(tiny_dataset: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    weights = runs / "offline" / "weights" / "last.pt"
    argvs = [
        ["train", "--data", str(tiny_dataset), "--model", "grace-n", "--variant", "grace", "--epochs", "1",
         "--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu", "--project", str(runs),
         "--name", "offline"],
        ["val", str(weights), "--data", str(tiny_dataset), "--imgsz", "64", "--batch", "4",
         "--device", "cpu"],
        ["export", "--weights", str(weights), "--imgsz", "64", "--out", str(tmp_path / "model.onnx")],
    ]
    env = _fresh_env(tmp_path / "home")  # no font or settings cached
    out = subprocess.run(
        [sys.executable, "-c", _GUARDED_RUN, json.dumps(argvs)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    lines = [l for l in out.stdout.splitlines() if l.startswith("GUARD-RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("GUARD-RESULT "))
    assert result["attempts"] == [], result["attempts"]
    assert result["codes"] == [0, 0, 0], out.stderr[-3000:]
    assert (tmp_path / "model.onnx").is_file()
