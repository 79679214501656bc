"""Load PyTorch checkpoints without running code from them.

A ``.pt`` file is a pickle, and unpickling can call any Python function the file names. Every checkpoint grace-edge
reads goes through :func:`torch_load`: torch's ``weights_only=True`` unpickler, which rebuilds tensors and plain
containers only, plus an allow-list of exactly the model classes that GRACE and stock Ultralytics YOLO11 detection
checkpoints contain. A file that names anything else is refused with one line that names the global; the user may
then pass ``--trust-weights`` ("runs code from the file") to load it the old, unsafe way.

Ultralytics loads checkpoints itself too (``YOLO(path)``, its validator, ``strip_optimizer`` at the end of training),
through ``ultralytics.utils.patches.torch_load``, which defaults to ``weights_only=False``. :func:`guard_ultralytics`
replaces that function, in every Ultralytics module that imported it, by :func:`guarded_torch_load`, so no path inside
Ultralytics unpickles a file unsafely unless that very file was trusted (:func:`trusted`) in the calling context.

The same guard covers Ultralytics' label caches (``labels/train.cache``: a pickle read with
``np.load(allow_pickle=True)``): a dataset folder is data, so a cache is used only if this process wrote it (kept in
memory, never read from or written to the dataset folder); any other is ignored and the labels are scanned again.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import pickle
import re
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

from grace_edge.errors import ArtifactError

TRUST_FLAG = "--trust-weights"

# Found empirically: the union of torch.serialization.get_unsafe_globals_in_checkpoint() over grace-n/grace-s and
# yolo11n/yolo11s checkpoints written by 'grace-edge train' (best.pt and last.pt, during and after training), a YOLO11n saved by Ultralytics'
# own Model.save(), and the Ultralytics training layout whose model carries its loss (criterion) object.
# Everything else a checkpoint holds (tensors, storages, OrderedDict, dicts, lists, str, numbers) is accepted by
# torch's weights_only unpickler itself. tests/model/test_safe_load.py re-derives this list from fresh checkpoints.
ALLOWED_GLOBALS: tuple[str, ...] = (
    "grace_edge.model.lite_fen.LiteFEN",
    "torch.nn.modules.activation.SiLU",
    "torch.nn.modules.activation.Sigmoid",
    "torch.nn.modules.batchnorm.BatchNorm2d",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.conv.Conv2d",
    "torch.nn.modules.linear.Identity",
    "torch.nn.modules.loss.BCEWithLogitsLoss",
    "torch.nn.modules.pooling.AdaptiveAvgPool2d",
    "torch.nn.modules.pooling.MaxPool2d",
    "torch.nn.modules.upsampling.Upsample",
    "ultralytics.nn.modules.block.Attention",
    "ultralytics.nn.modules.block.Bottleneck",
    "ultralytics.nn.modules.block.C2PSA",
    "ultralytics.nn.modules.block.C3k",
    "ultralytics.nn.modules.block.C3k2",
    "ultralytics.nn.modules.block.DFL",
    "ultralytics.nn.modules.block.PSABlock",
    "ultralytics.nn.modules.block.SPPF",
    "ultralytics.nn.modules.conv.Concat",
    "ultralytics.nn.modules.conv.Conv",
    "ultralytics.nn.modules.conv.DWConv",
    "ultralytics.nn.modules.head.Detect",
    "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.IterableSimpleNamespace",  # model.args in checkpoints written during training
    "ultralytics.utils.loss.BboxLoss",
    "ultralytics.utils.loss.DFLoss",
    "ultralytics.utils.loss.v8DetectionLoss",
    "ultralytics.utils.tal.TaskAlignedAssigner",
)

_register_lock = threading.Lock()
_registered = False
_guard_lock = threading.Lock()
_label_caches: dict[str, Any] = {}  # Ultralytics label caches built by this process, by real path
# Files the caller trusts, for this context only (threads started later do not inherit it, so they load safely).
_trusted: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("grace_edge_trusted", default=frozenset())


class UnsafeCheckpoint(ArtifactError):
    """A checkpoint names a global outside the allow-list: loading it could run code from the file."""


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attr)
    if not isinstance(obj, type):  # every entry is a class; a function here would be a hole in the list
        raise TypeError(f"allow-list entry {name} is not a class")
    return obj


def allowed_globals() -> list[Any]:
    """The allow-listed classes, imported (grace_edge's Lite-FEN first registers itself with Ultralytics)."""
    from grace_edge.ultralytics_env import prepare

    if prepare():  # what ultralytics_setup.configure does, without importing it (it imports this module)
        guard_ultralytics()
    return [_resolve(name) for name in ALLOWED_GLOBALS]


def _register() -> None:
    """Add the allow-list to torch's weights_only globals once per process (never removed: removing is racy)."""
    global _registered
    with _register_lock:
        if not _registered:
            import torch

            torch.serialization.add_safe_globals(allowed_globals())
            _registered = True


def _key(path: Any) -> str | None:
    if isinstance(path, (str, os.PathLike)):
        return os.path.realpath(path)
    return None  # a file object or buffer: never trusted


def is_trusted(path: Any) -> bool:
    key = _key(path)
    return key is not None and key in _trusted.get()


@contextlib.contextmanager
def trusted(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within this block (this thread or task only), ``path`` may be unpickled with code execution."""
    if path is None:
        yield
        return
    token = _trusted.set(_trusted.get() | {_key(path)})
    try:
        yield
    finally:
        _trusted.reset(token)


# What torch's weights_only unpickler names, by the wording of each refusal (torch/_weights_only_unpickler.py)
_REFUSAL_PATTERNS = (
    r"Unsupported global: GLOBAL (\S+) was not an allowed global",
    r"unsupported GLOBAL (\S+) whose module \S+ is blocked",  # os, sys, posix, nt: torch's own blocklist
    r"reduce for unrecognized function (.+?)(?: which belongs|$)",
    r"but got (<class [^>]+>)",  # Can only build / create new object for ... but got <class ...>
    r"(\S+) must be imported to load",
)


def _refused_global(error: BaseException) -> str:
    """What the file names that torch's safe unpickler refused, from torch's message (which advises
    ``weights_only=False``: never passed on, the user's way is ``--trust-weights``)."""
    text = str(error)
    for pattern in _REFUSAL_PATTERNS:
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            return match.group(1)
    return "an instruction outside torch's safe subset"


def _refusal(path: Any, error: BaseException) -> UnsafeCheckpoint:
    return UnsafeCheckpoint(
        f"{path}: refused to load: the file refers to {_refused_global(error)}, which is not a GRACE/YOLO11 model "
        f"class, so unpickling it could run code from the file; if you trust where it came from, pass {TRUST_FLAG}"
    )


def torch_load(path: str | os.PathLike[str], *, trust: bool = False, map_location: Any = "cpu") -> Any:
    """``torch.load`` of ``path`` that runs no code from it unless ``trust`` (or the path is :func:`trusted`).

    Raises :class:`UnsafeCheckpoint` (one line naming the file and the refused global) for a file that would need
    code execution; other errors (truncated, not a checkpoint) propagate for the caller to word.
    """
    import torch

    if trust or is_trusted(path):
        return torch.load(path, map_location=map_location, weights_only=False)
    if not zipfile.is_zipfile(path):  # torch.save() writes a zip; anything else is garbage or a legacy raw pickle
        raise UnsafeCheckpoint(
            f"{path}: not a readable training checkpoint (not a torch.save() archive); a legacy plain-pickle "
            f"checkpoint loads only with {TRUST_FLAG}, which runs code from the file"
        )
    _register()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only raises only this for what it will not rebuild
        raise _refusal(path, e) from None


def guarded_torch_load(f: Any, *args: Any, **kwargs: Any) -> Any:
    """Drop-in for ``ultralytics.utils.patches.torch_load``: weights_only with our allow-list, unless trusted."""
    import torch

    if is_trusted(f):
        kwargs["weights_only"] = False
        return torch.load(f, *args, **kwargs)
    _register()
    kwargs["weights_only"] = True  # also over an explicit weights_only=False from inside Ultralytics
    try:
        return torch.load(f, *args, **kwargs)
    except pickle.UnpicklingError as e:
        raise _refusal(f, e) from None


def load_label_cache(path: Path) -> dict:
    """Drop-in for Ultralytics' ``load_dataset_cache_file``: only a cache this process saved; else "not found"."""
    import copy

    cache = _label_caches.get(os.path.realpath(path))
    if cache is None:  # Ultralytics treats FileNotFoundError as "no cache": it scans the labels and saves a new one
        raise FileNotFoundError(f"{path}: grace-edge does not read label caches it did not write in this process")
    return copy.deepcopy(cache)


def save_label_cache(prefix: str, path: Path, x: dict, version: str) -> None:
    """Drop-in for Ultralytics' ``save_dataset_cache_file``: keep the cache in memory, write nothing to the dataset."""
    import copy

    x["version"] = version
    _label_caches[os.path.realpath(path)] = copy.deepcopy(x)


def _replace(module_name: str, attr: str, new: Any) -> None:
    """Set ``module_name.attr`` to ``new``, and every Ultralytics module that imported the original by name."""
    module = importlib.import_module(module_name)
    old = getattr(module, attr)
    if old is new:
        return
    setattr(module, attr, new)  # modules imported from now on pick up the guarded one
    for name, other in list(sys.modules.items()):
        if name.startswith("ultralytics") and getattr(other, attr, None) is old:
            setattr(other, attr, new)


def guard_ultralytics() -> None:
    """Make Ultralytics (modules imported now or later) load checkpoints safely and ignore foreign label caches."""
    with _guard_lock:
        _replace("ultralytics.utils.patches", "torch_load", guarded_torch_load)
        _replace("ultralytics.data.utils", "load_dataset_cache_file", load_label_cache)
        _replace("ultralytics.data.utils", "save_dataset_cache_file", save_label_cache)
