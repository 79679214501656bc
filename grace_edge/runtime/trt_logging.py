"""The one TensorRT logger of this process, routed into Python ``logging`` (logger ``grace_edge.tensorrt``).

TensorRT keeps the first ILogger it is given for the whole process (NVIDIA's ILogger documentation; NVIDIA/TensorRT
issue 1475): a logger made per build or per detector is ignored at best and, once garbage-collected, written
through at worst. So every ``trt.Builder``, ``trt.OnnxParser`` and ``trt.Runtime`` grace-edge makes gets
:func:`tensorrt_logger`, made once, as NVIDIA's samples do with their module-level ``TRT_LOGGER``.

The severity shown is settable at any time (:func:`set_level`; ``--trt-log-level`` on the command line; the
``GRACE_TRT_LOG`` environment variable as the default): the logger forwards what TensorRT reports at that severity
or worse. Levels are TensorRT's: internal_error, error, warning (default), info, verbose.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from grace_edge.errors import InputError

ENV_VAR = "GRACE_TRT_LOG"
LEVELS = ("internal_error", "error", "warning", "info", "verbose")  # TensorRT's Severity values 0..4, in order
DEFAULT_LEVEL = "warning"
# TensorRT severity -> Python logging level
PY_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}
LOG = logging.getLogger("grace_edge.tensorrt")

_lock = threading.Lock()
_logger: tuple[Any, Any] | None = None  # (the tensorrt module it was made for, the logger)
_level: str | None = None  # set_level's choice; None: GRACE_TRT_LOG or the default


def parse_level(text: str, source: str = "--trt-log-level") -> str:
    """A TensorRT severity name (case-insensitive), or one clear error naming ``source``."""
    level = str(text).strip().lower()
    if level not in LEVELS:
        raise InputError(f"{source} {text!r}: choose one of {', '.join(LEVELS)}")
    return level


def level() -> str:
    """The severity forwarded now: :func:`set_level`'s, else ``GRACE_TRT_LOG``'s, else warning."""
    if _level is not None:
        return _level
    env = os.environ.get(ENV_VAR)
    return parse_level(env, ENV_VAR) if env else DEFAULT_LEVEL


def set_level(name: str) -> None:
    """Forward TensorRT messages of severity ``name`` or worse from now on (the logger itself stays the same)."""
    global _level
    _level = parse_level(name)


def tensorrt_logger(trt: Any) -> Any:
    """The process's one ``trt.ILogger`` (made on first use, for the ``tensorrt`` module ``trt``)."""
    global _logger
    with _lock:
        if _logger is None or _logger[0] is not trt:  # another module object only in tests (a fresh fake)
            _logger = (trt, _make_logger(trt))
        return _logger[1]


def _make_logger(trt: Any) -> Any:
    class PythonLogger(trt.ILogger):
        """Forwards TensorRT's messages to ``logging`` at the severity :func:`level` allows."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # pybind11 needs the base initialised explicitly

        def log(self, severity: Any, msg: str) -> None:
            rank = int(severity)
            if rank <= LEVELS.index(level()):
                LOG.log(PY_LEVELS.get(rank, logging.WARNING), "TensorRT: %s", msg)

    return PythonLogger()


def describe() -> str:
    """One line for ``grace-edge doctor``: the logger in use and the severity it forwards."""
    made = "made" if _logger is not None else "not made yet"
    return f"one process-wide ILogger ({made}) -> Python logging '{LOG.name}', severity {level()} ({ENV_VAR}, " \
           f"--trt-log-level)"


def log_to_stderr(name: str | None = None) -> None:
    """The command line's setup: ``--trt-log-level NAME`` if given, and TensorRT's lines shown on stderr.

    A library user configures ``logging`` as they like; the CLI adds one plain stderr handler (if none is there)
    so that info and verbose lines, which Python's last-resort handler drops, are shown when asked for.
    """
    if name is not None:
        set_level(name)
    level()  # a bad GRACE_TRT_LOG is reported now, in one line, not at the first TensorRT message
    if not LOG.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.DEBUG)  # the severity filter is level(); logging passes everything it is handed
        LOG.propagate = False
