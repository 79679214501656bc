"""sysinfo describes the machine and never raises, whatever is missing, broken or hanging."""

from __future__ import annotations

import importlib.metadata
import json
import os
import time
from pathlib import Path

import pytest

from grace_edge import sysinfo


def test_collect_on_this_machine_is_json_and_has_the_basics() -> None:
    info = sysinfo.collect()
    json.dumps(info)  # serialisable as is
    assert info["cpu"]["logical_cores"] == os.cpu_count()
    assert info["libraries"]["onnxruntime"] and info["libraries"]["numpy"]
    assert "CPUExecutionProvider" in info["libraries"]["onnxruntime_providers"]


def test_collect_never_raises_when_everything_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a, **k):
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(Path, "read_text", boom)
    monkeypatch.setattr(os, "getloadavg", boom)
    monkeypatch.setattr(os, "sched_getaffinity", boom)
    monkeypatch.setattr(importlib.metadata, "version", boom)
    monkeypatch.setattr(sysinfo.importlib, "import_module", boom)
    monkeypatch.setattr(sysinfo.subprocess, "run", boom)
    monkeypatch.setattr(sysinfo.shutil, "which", lambda name: "/usr/bin/" + name)
    info = sysinfo.collect()
    assert info["load_average"] is None and info["gpu"] == {} and info["jetson"] == {}
    assert info["libraries"]["onnxruntime"] is None


def test_hanging_tool_is_cut_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tool = tmp_path / "nvpmodel"
    tool.write_text("#!/bin/sh\nsleep 30\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sysinfo, "_PROBE_TIMEOUT_S", 0.5)
    t0 = time.monotonic()
    assert sysinfo._run(["nvpmodel", "-q"]) is None
    assert time.monotonic() - t0 < 10


def test_jetson_fields_from_files_and_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"/etc/nv_tegra_release": "# R36 (release), REVISION: 3.0",
             "/proc/device-tree/model": "NVIDIA Jetson Orin\x00"}
    tools = {"nvpmodel": "NV Power Mode: MAXN\n0", "jetson_clocks": None}
    monkeypatch.setattr(sysinfo, "_read", files.get)
    monkeypatch.setattr(sysinfo, "_run", lambda cmd: tools.get(cmd[0]))
    info = sysinfo.jetson_info()
    assert info == {"l4t_release": "# R36 (release), REVISION: 3.0", "model": "NVIDIA Jetson Orin",
                    "nvpmodel": "NV Power Mode: MAXN\n0"}


def test_cpu_model_and_features_from_arm_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\nHardware\t: Tegra234\n"
    monkeypatch.setattr(sysinfo, "_read", lambda path: text)
    assert sysinfo.cpu_model() == "Tegra234"
    assert sysinfo.cpu_features() == ["asimddp", "i8mm"]


def test_busy_note_only_when_load_exceeds_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert sysinfo.busy_note([1.5, 1.0, 1.0], [2.0, 1.0, 1.0]) is None
    assert sysinfo.busy_note(None, None) is None
    note = sysinfo.busy_note([1.0, 1.0, 1.0], [7.5, 3.0, 1.0])
    assert note and "7.5 on 2 cores" in note
