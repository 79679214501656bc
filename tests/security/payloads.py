"""Files an attacker would hand us: pickles whose unpickling writes a marker file (proof that code ran)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch


class Payload:
    """Unpickles as a call to ``exec`` that writes ``marker``: what any pickle can do on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('payload ran')",))


class SystemPayload(Payload):
    """The classic: ``os.system`` (pickled as ``posix.system``), a module torch's safe loader blocks outright."""

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (f"touch {self.marker}",))


def evil_checkpoint(path: Path, marker: Path, model: Any = None, payload: type[Payload] = Payload) -> Path:
    """A torch.save zip: a bare payload, or (with ``model``) a real checkpoint with a payload key added."""
    ckpt: dict[str, Any] = {"payload": payload(marker)}
    if model is not None:
        ckpt.update(model=model, train_args={})
    torch.save(ckpt, path)
    return path


def evil_legacy_pickle(path: Path, marker: Path) -> Path:
    """A plain pickle named .pt (torch's legacy format), whose payload runs with weights_only=False."""
    with open(path, "wb") as f:
        pickle.dump({"model": Payload(marker)}, f)
    return path
