"""One meaning of ``--device`` for every command: ``auto``, ``cpu``, a CUDA index ``0`` or ``cuda:0``, and, for
training only, several GPUs ``0,1``. Everything is normalised to ``auto``, ``cpu`` or ``cuda:N[,M...]``, which both
our runtime and Ultralytics accept."""

from __future__ import annotations

from grace_edge.errors import InputError

ACCEPTED = "'auto', 'cpu', a GPU index such as 0, or cuda:0"


def parse_device(text: str, *, many: bool = False) -> str:
    """``"0"``/``"cuda:0"``/``"cuda"`` -> ``"cuda:0"``; ``"cpu"``/``"auto"`` as they are; ``"0,1"`` -> ``"cuda:0,1"``
    when ``many`` (multi-GPU training). Anything else is an InputError naming the value."""
    value = str(text).strip().lower()
    if value in ("auto", "cpu"):
        return value
    if value in ("cuda", "gpu"):
        return "cuda:0"
    indices = value.removeprefix("cuda:").split(",")
    if not all(i.strip().isdigit() for i in indices) or (len(indices) > 1 and not many):
        more = " or several GPUs such as 0,1" if many else ""
        raise InputError(f"device {text!r}: use {ACCEPTED}{more}")
    return "cuda:" + ",".join(str(int(i)) for i in indices)


def cuda_index(device: str) -> int:
    """The CUDA index of one device: ``auto``/``cuda`` -> 0, ``N``/``cuda:N`` -> N (``cpu`` is an InputError)."""
    value = parse_device(device)
    if value == "cpu":
        raise InputError(f"device {device!r}: a CUDA device is needed here, not the CPU")
    return int(value.removeprefix("cuda:")) if value != "auto" else 0


def to_ultralytics(device: str | None) -> str | None:
    """The spelling Ultralytics documents: ``cpu``, ``0`` or ``0,1``; None (its own choice) for ``auto``/None."""
    if device is None:
        return None
    value = parse_device(device, many=True)
    return None if value == "auto" else value.removeprefix("cuda:")
