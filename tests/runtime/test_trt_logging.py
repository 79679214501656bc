"""One TensorRT logger per process (grace_edge.runtime.trt_logging), checked with the FAKE tensorrt modules.

The fakes (tests/fakes/tensorrt.py, checked against the real 10.3 and 11.4 bindings) model TensorRT's rule that the
first ILogger given is the process's logger: a Builder, OnnxParser or Runtime handed a second one fails the test.
That proves our code keeps to the rule; it does not prove what a real TensorRT prints (only a GPU run shows that).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from grace_edge.errors import InputError
from grace_edge.runtime import Detector, trt_logging
from tests.fakes.cuda import Log, make_pycuda
from tests.fakes.tensorrt import make_tensorrt
from tests.runtime.test_tensorrt_backend import HW, write_engine


@pytest.fixture(autouse=True)
def fresh_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trt_logging, "_level", None)
    monkeypatch.delenv(trt_logging.ENV_VAR, raising=False)


@pytest.fixture(params=["10.3", "11.4"])
def fakes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[Log, object]:
    log = Log()
    pkg, drv = make_pycuda(log)
    trt, _ = make_tensorrt(request.param, log, hw=HW)
    for name, module in (("pycuda", pkg), ("pycuda.driver", drv), ("tensorrt", trt)):
        monkeypatch.setitem(sys.modules, name, module)
    return log, trt


def test_every_build_and_detector_uses_the_one_logger(fakes, tmp_path: Path) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    log, trt = fakes
    build_engine(tmp_path / "m.onnx", precision="fp16")
    build_engine(tmp_path / "m.onnx", precision="int8", verbose=True)
    engine = write_engine(tmp_path / "fake.engine")
    with Detector.open(engine), Detector.open(engine, workers=2):
        pass
    assert len(log.loggers) == 2 * 2 + 2  # Builder + OnnxParser per build, one Runtime per detector
    assert all(logger is trt_logging.tensorrt_logger(trt) for logger in log.loggers)
    assert isinstance(log.loggers[0], trt.ILogger)


def test_the_fake_fails_a_second_logger(fakes) -> None:
    """What the code did before: a new trt.Logger per build and per detector. The fake must catch it."""
    _, trt = fakes
    trt.Runtime(trt.Logger(trt.Logger.WARNING))
    with pytest.raises(AssertionError, match="second TensorRT logger"):
        trt.Builder(trt.Logger(trt.Logger.VERBOSE))
    with pytest.raises(AssertionError, match="needs a tensorrt.ILogger"):
        trt.Runtime(logging.getLogger("not a TensorRT logger"))


def test_messages_go_to_python_logging_at_the_severity_asked(fakes, tmp_path: Path, caplog, monkeypatch) -> None:
    from grace_edge.engine.tensorrt_build import build_engine

    caplog.set_level(logging.DEBUG, logger=trt_logging.LOG.name)
    build_engine(tmp_path / "m.onnx", precision="fp16")
    shown = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == trt_logging.LOG.name]
    assert shown == [(logging.WARNING, "TensorRT: fake builder: a warning")]  # verbose is below the default
    caplog.clear()
    monkeypatch.setenv(trt_logging.ENV_VAR, "VERBOSE")
    build_engine(tmp_path / "m.onnx", precision="fp16")
    levels = [r.levelno for r in caplog.records if r.name == trt_logging.LOG.name]
    assert levels == [logging.DEBUG, logging.WARNING]
    caplog.clear()
    trt_logging.set_level("error")  # an explicit choice beats the environment
    build_engine(tmp_path / "m.onnx", precision="fp16")
    assert [r for r in caplog.records if r.name == trt_logging.LOG.name] == []


def test_levels_are_tensorrts_and_bad_ones_are_one_line(monkeypatch) -> None:
    assert trt_logging.level() == "warning"
    monkeypatch.setenv(trt_logging.ENV_VAR, "info")
    assert trt_logging.level() == "info"
    monkeypatch.setenv(trt_logging.ENV_VAR, "loud")
    with pytest.raises(InputError, match="GRACE_TRT_LOG 'loud': choose one of internal_error, error, warning"):
        trt_logging.level()
    with pytest.raises(InputError, match="--trt-log-level"):
        trt_logging.set_level("chatty")


def test_cli_flag_sets_the_level_and_a_bad_env_is_one_line(monkeypatch, capsys) -> None:
    from grace_edge.cli import main

    monkeypatch.setattr(trt_logging.LOG, "handlers", [])
    assert main(["doctor", "--no-selftest", "--trt-log-level", "info"]) in (0, 1, 3)
    assert trt_logging.level() == "info" and trt_logging.LOG.handlers  # shown on stderr from now on
    assert "severity info" in capsys.readouterr().out  # doctor reports the logger it runs with
    monkeypatch.setattr(trt_logging, "_level", None)
    monkeypatch.setenv(trt_logging.ENV_VAR, "loud")
    assert main(["doctor", "--no-selftest"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GRACE_TRT_LOG 'loud'" in err
    with pytest.raises(SystemExit):
        main(["build", "--fp16", "--trt-log-level", "chatty"])
