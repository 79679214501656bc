"""``grace-edge doctor`` without a GPU (here, CI) and with faked findings: clear lines, a distinct exit code, never a
traceback. The GPU self-test itself (grace_edge/doctor/selftest.py) runs only on a GPU: the ``gpu`` tests use it."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from grace_edge.cli import main
from grace_edge.doctor import checks
from grace_edge.doctor.checks import EXIT_FAILED, EXIT_NO_GPU, FAIL, Check
from grace_edge.doctor.selftest import compare_detections
from grace_edge.engine import tensorrt_build
from tests.fakes.cuda import pycuda_without_driver


@pytest.fixture()
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: None)


def test_without_a_gpu_it_says_so_and_exits_3(no_gpu, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == EXIT_NO_GPU
    out = capsys.readouterr()
    assert "no NVIDIA GPU found" in out.out and "NOT checked (no NVIDIA GPU found)" in out.out
    assert "engine build" in out.out and "Traceback" not in out.out + out.err
    for name in ("driver", "CUDA", "TensorRT", "pycuda", "cuda-python", "ONNX Runtime", "GPU"):
        assert f" {name} " in out.out


def test_the_command_line_runs_here_without_a_traceback() -> None:
    """The real command on this machine (no GPU in CI): exit 3 and plain lines, or 0/1 on a GPU box."""
    run = subprocess.run([sys.executable, "-m", "grace_edge", "doctor", "--no-selftest"], capture_output=True,
                         text=True, timeout=300)
    assert "Traceback" not in run.stdout + run.stderr
    assert run.returncode in (0, 1, EXIT_NO_GPU) and "grace-edge doctor" in run.stdout


def test_gpu_without_tensorrt_is_a_failure_with_a_hint(monkeypatch, capsys) -> None:
    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: tensorrt_build.GpuInfo("Orin", "8.7"))
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    assert main(["doctor"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "problem(s):" in out and "TensorRT: TensorRT is not installed" in out and "hint:" in out
    assert "NOT checked" in out  # the self-test does not run on a broken install


def test_a_probe_that_raises_is_one_fail_line(no_gpu, monkeypatch, capsys) -> None:
    def broken() -> Check:
        raise RuntimeError("boom")

    monkeypatch.setattr(checks, "ENVIRONMENT", (checks.python_check, broken))
    assert main(["doctor"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "broken: the probe raised RuntimeError: boom" in out and "Traceback" not in out


def test_jetson_release_and_power_mode(monkeypatch) -> None:
    from grace_edge import sysinfo

    monkeypatch.setattr(sysinfo, "jetson_info", lambda: {
        "l4t_release": "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64",
        "model": "NVIDIA Jetson AGX Orin Developer Kit", "nvpmodel": "NV Power Mode: 15W\n1"})
    jetpack, power = checks.jetson_checks()
    assert jetpack.detail == ("L4T R36.4.3: JetPack 6.1/6.2 (TensorRT 10.3, CUDA 12.6) on NVIDIA Jetson AGX Orin "
                              "Developer Kit")
    assert power.detail.startswith("15W")
    monkeypatch.setattr(sysinfo, "jetson_info", lambda: {"l4t_release": "# R36 (release), REVISION: 3.0"})
    assert "too old" in checks.jetson_checks()[0].detail  # JetPack 6.0 shipped TensorRT 8.6
    monkeypatch.setattr(sysinfo, "jetson_info", lambda: {})
    assert checks.jetson_checks() == []


def test_tensorrt_older_than_10_fails(monkeypatch) -> None:
    import types

    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.6.2"))
    check = checks.tensorrt_check()
    assert check.status == FAIL and "8.6.2 is too old" in check.detail and "JetPack 6.1" in check.hint


@pytest.mark.parametrize("error", [ImportError, OSError])
def test_tensorrt_without_its_native_libraries_is_not_called_missing(monkeypatch, error) -> None:
    from tests.fakes.tensorrt import LIBNVINFER_MISSING, tensorrt_without_native_libs

    tensorrt_without_native_libs(monkeypatch, error)
    check = checks.tensorrt_check()
    assert check.status == FAIL and LIBNVINFER_MISSING in check.detail and "not installed" not in check.detail


def test_doctor_reports_the_logger_stream_and_event_settings(no_gpu, capsys) -> None:
    assert main(["doctor", "--no-selftest"]) == EXIT_NO_GPU
    line = next(line for line in capsys.readouterr().out.splitlines() if "TRT settings" in line)
    assert "one process-wide ILogger" in line and "CU_STREAM_NON_BLOCKING" in line and "BLOCKING_SYNC" in line


def test_driver_version_from_nvidia_smi(monkeypatch) -> None:
    from grace_edge import sysinfo

    monkeypatch.setattr(sysinfo, "gpu_info", lambda: {"nvidia_smi": ["NVIDIA RTX A2000, 550.54.15, 210 MHz, 405 MHz, 70.00 W"]})
    assert checks.driver_check().detail == "NVIDIA 550.54.15"


def test_pycuda_without_libcuda_is_not_reported_as_missing(monkeypatch) -> None:
    pycuda_without_driver(monkeypatch)
    check = checks.pycuda_check()
    assert check.status == FAIL and "libcuda.so.1" in check.detail and "not installed" not in check.detail


def test_compare_detections_states_what_differs() -> None:
    rows = np.array([[0, 0, 10, 10, 0.9, 0], [5, 5, 20, 20, 0.5, 1]], np.float32)
    assert compare_detections([rows], [rows.copy()], "int8") == []
    shifted = rows.copy()
    shifted[0, 4] -= 0.05
    assert compare_detections([shifted], [rows], "int8") == [
        "image 0: top-2 scores differ by up to 0.0500 (tolerance 0.02)"]
    many = np.repeat(rows, 4, axis=0)
    assert compare_detections([many], [rows], "fp32") == ["image 0: 8 detections, ONNX Runtime 2"]


def test_selftest_on_fakes_builds_a_conforming_feature_graph_and_reports_failures_as_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-test's CPU half is real (export, INT8 Q/DQ, conformance); TensorRT and pycuda are the fakes, whose
    engine is not this graph (8 rows, not 100), so running it must fail as lines, not tracebacks."""
    import onnx

    from grace_edge.doctor.selftest import FEATURE_OPS, run_selftest
    from tests.fakes.cuda import Log, make_pycuda
    from tests.fakes.tensorrt import make_tensorrt

    log = Log()
    pkg, drv = make_pycuda(log)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt("10.3", log, input_shape=(-1, 48, 64, 1))[0])
    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: tensorrt_build.GpuInfo("Fake GPU", "8.7"))
    results = run_selftest(tmp_path, log=lambda text: None)
    assert [(r.name, r.ok) for r in results] == [("conformance", True), ("engine build", True),
                                                 ("run engine", False), ("two threads", False)]
    assert "detections" in results[2].detail and results[2].hint and results[3].hint
    assert not any(r.name == "DLA build" for r in results)  # not an Orin: no DLA attempt
    assert log.retained == 0  # every failed open released its context

    model = onnx.load(str(tmp_path / "selftest_int8.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert set(FEATURE_OPS) <= ops, sorted(set(FEATURE_OPS) - ops)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in model.graph.output] == ["detections", "num_detections"]  # in-graph top-K + Cluster-NMS


@pytest.mark.parametrize("dla_cores", [2, 0])
def test_on_an_orin_the_selftest_tries_a_dla_build_and_reports_it(tmp_path, monkeypatch, dla_cores) -> None:
    """The DLA build runs on an Orin only, with the fakes here: built (2 cores) or refused (0), both as info lines."""
    from grace_edge.doctor import selftest
    from tests.fakes.cuda import Log, make_pycuda
    from tests.fakes.tensorrt import make_tensorrt

    log = Log()
    pkg, drv = make_pycuda(log)
    trt, _ = make_tensorrt("10.3", log, input_shape=(-1, 48, 64, 1), dla_cores=dla_cores)
    for name, module in (("pycuda", pkg), ("pycuda.driver", drv), ("tensorrt", trt)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(selftest, "on_orin", lambda: True)
    graph = tmp_path / "g.onnx"
    monkeypatch.setattr(selftest, "feature_graph", lambda work, log: graph)
    monkeypatch.setattr(selftest, "conformance_check", lambda g: selftest.SelfTestResult("conformance", True, "ok"))
    monkeypatch.setattr(selftest, "read_onnx_meta", lambda g: types.SimpleNamespace(batch=(1, 2, 2), precision="int8"))
    monkeypatch.setattr(selftest, "build_packed_engine", lambda g, out, precision=None: out.write_bytes(b"e") and out)
    (dla,) = [r for r in selftest.run_selftest(tmp_path, log=lambda text: None) if r.name == "DLA build"]
    assert dla.info and dla.ok == bool(dla_cores)
    assert ("built an INT8 engine" if dla_cores else "no DLA cores") in dla.detail
    if dla_cores:
        assert log.build["config"].default_device_type == trt.DeviceType.DLA and log.build["config"].DLA_core == 0
        assert trt.BuilderFlag.GPU_FALLBACK in log.build["flags_set"]


def test_an_experimental_finding_never_fails_doctor(monkeypatch, capsys) -> None:
    from grace_edge.doctor import selftest
    from grace_edge.doctor.selftest import SelfTestResult

    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: tensorrt_build.GpuInfo("Orin", "8.7"))
    monkeypatch.setattr(checks, "ENVIRONMENT", (checks.python_check, checks.gpu_check))
    monkeypatch.setattr(selftest, "run_selftest", lambda work, log, device: [
        SelfTestResult("DLA build", False, "--dla 0 failed (DLA says no)", "report it", info=True)])
    assert main(["doctor"]) == 0
    assert "info    DLA build     --dla 0 failed (DLA says no)" in capsys.readouterr().out


def test_selftest_failures_make_exit_1_with_one_line_each(monkeypatch, capsys) -> None:
    from grace_edge.doctor import selftest
    from grace_edge.doctor.selftest import SelfTestResult

    monkeypatch.setattr(tensorrt_build, "gpu_info", lambda: tensorrt_build.GpuInfo("Orin", "8.7"))
    monkeypatch.setattr(checks, "ENVIRONMENT", (checks.python_check, checks.gpu_check))
    monkeypatch.setattr(selftest, "run_selftest", lambda work, log, device: [
        SelfTestResult("engine build", True, "12.0 s"),
        SelfTestResult("vs ONNX Runtime", False, "image 0: 9 detections, ONNX Runtime 3", "report it")])
    assert main(["doctor"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "1 problem(s):" in out and "vs ONNX Runtime: image 0: 9 detections, ONNX Runtime 3 -- hint: report it" in out
