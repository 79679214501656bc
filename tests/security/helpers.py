"""Shared bits of the security tests: a PID no process has, and an unreadable path even for root."""

from __future__ import annotations

import builtins
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest


def dead_pid() -> int:
    """The PID of a process that has exited (and was reaped), so no live process has it."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def deny_read(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` (a file or folder) unreadable: chmod 000, and, as root (who ignores modes), refuse it in
    ``open`` / ``os.listdir`` / ``os.scandir`` the way the kernel would for anyone else."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    target = os.path.abspath(path)

    def refuse(fn):
        def wrapped(p, *args, **kwargs):
            if isinstance(p, (str, os.PathLike)) and os.path.abspath(os.fspath(p)) == target:
                raise PermissionError(13, "Permission denied", os.fspath(p))
            return fn(p, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(builtins, "open", refuse(builtins.open))
    monkeypatch.setattr(io, "open", refuse(io.open))
    monkeypatch.setattr(os, "listdir", refuse(os.listdir))
    monkeypatch.setattr(os, "scandir", refuse(os.scandir))
