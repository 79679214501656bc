"""Atomic file writes (a reader never sees a half-written file), and clean-up of what killed runs left behind.

Temporary files and folders carry the writer's PID in their names (``<prefix><pid>-<random><suffix>``), so a
later run can tell its own crash leftovers (writer no longer alive) from another run's work in progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed over ``path``, on error removed."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=owned_prefix(f".{final.name}."), suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        mask = os.umask(0)  # mkstemp makes 0600 files; give the result the usual permissions
        os.umask(mask)
        os.chmod(tmp_path, 0o666 & ~mask)
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike[str], label: str) -> None:
    """Raise an InputError now if ``path`` could not be written later (a folder, under a file, no permission)."""
    from grace_edge.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{label} {path}: is a folder; give a file path")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest existing ancestor: the writer creates the rest
    if not folder.is_dir():
        raise InputError(f"{label} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{label} {path}: folder {folder} is not writable")  # atomic writes rename in it


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fresh_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if nothing is there yet, else the first free ``<stem>-2<suffix>``, ``-3``, ...: a command's default
    output never overwrites an earlier run's (files and folders alike)."""
    path = Path(path)
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def owned_prefix(prefix: str) -> str:
    """``prefix`` + this process's PID + ``-``: names that :func:`remove_stale` can attribute to a writer."""
    return f"{prefix}{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (one we may not signal counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, owned by someone else
        return True
    return True


LEGACY_STALE_S = 24 * 3600  # a PID-less leftover of an older grace-edge counts as stale after a day untouched


def stale_entries(directory: str | os.PathLike[str], prefix: str, suffix: str = "",
                  legacy: str | None = None) -> list[Path]:
    """Entries of ``directory`` named ``<prefix><pid>-<anything><suffix>`` whose writer ``pid`` is no longer alive.

    ``legacy`` is a regex for the random part of names older grace-edge versions wrote without a PID
    (``<prefix><legacy><suffix>``); those count as stale once untouched for :data:`LEGACY_STALE_S`."""
    directory = Path(directory)
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[^/]*" + re.escape(suffix) + "$")
    old_pattern = re.compile(re.escape(prefix) + legacy + re.escape(suffix) + "$") if legacy else None
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.match(name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            found.append(directory / name)
        elif not match and old_pattern and old_pattern.match(name) and _untouched_for(directory / name, LEGACY_STALE_S):
            found.append(directory / name)
    return sorted(found)


def _untouched_for(path: Path, seconds: float) -> bool:
    import time

    try:
        return time.time() - path.lstat().st_mtime > seconds
    except OSError:
        return False


def remove_stale(directory: str | os.PathLike[str], prefix: str, suffix: str = "", legacy: str | None = None) -> list[Path]:
    """Remove the :func:`stale_entries` (files, folders, or links: never what a link points to); return them."""
    removed = []
    for path in stale_entries(directory, prefix, suffix, legacy):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue  # not ours to fight over: leave it for the user
        removed.append(path)
    return removed


# Our folders in the system temp dir; a killed build or bench leaves them behind (the build's can hold 100s of MB).
TEMP_PREFIXES = ("grace-build-", "grace-int8-", "grace-int8-cpu-", "grace-calib-", "grace-edge-bench-")
_LEGACY_TEMP = r"[a-z0-9_]{8}"  # tempfile's random part, in names written before they carried the PID


def temp_dir(prefix: str) -> "tempfile.TemporaryDirectory[str]":
    """A temp folder named ``<prefix><pid>-<random>`` (``prefix`` one of :data:`TEMP_PREFIXES`)."""
    return tempfile.TemporaryDirectory(prefix=owned_prefix(prefix))


def remove_stale_temp() -> list[Path]:
    """Remove our temp folders whose process is gone (see :func:`stale_entries`); return them."""
    root = tempfile.gettempdir()
    return [p for prefix in TEMP_PREFIXES for p in remove_stale(root, prefix, "", _LEGACY_TEMP)]
