"""One ``--device`` parser for every command: 0, cuda:0 and cpu mean the same everywhere."""

from __future__ import annotations

import pytest

from grace_edge.devices import cuda_index, parse_device, to_ultralytics
from grace_edge.errors import InputError


@pytest.mark.parametrize(("text", "canonical", "ultralytics", "index"), [
    ("0", "cuda:0", "0", 0), ("cuda:0", "cuda:0", "0", 0), (" CUDA:1 ", "cuda:1", "1", 1), ("cuda", "cuda:0", "0", 0),
    ("auto", "auto", None, 0),
])
def test_gpu_spellings_agree(text: str, canonical: str, ultralytics: str | None, index: int) -> None:
    assert (parse_device(text), to_ultralytics(text), cuda_index(text)) == (canonical, ultralytics, index)


def test_cpu_and_several_gpus() -> None:
    assert (parse_device("cpu"), to_ultralytics("cpu")) == ("cpu", "cpu")
    assert (parse_device("0,1", many=True), to_ultralytics("cuda:0,1")) == ("cuda:0,1", "0,1")
    assert to_ultralytics(None) is None
    with pytest.raises(InputError, match="CUDA device is needed"):
        cuda_index("cpu")


@pytest.mark.parametrize("text", ["gpu0", "cuda:x", "-1", "", "0,1"])
def test_bad_devices_are_one_line_errors(text: str) -> None:
    with pytest.raises(InputError, match=f"device {text!r}: use 'auto', 'cpu'"):
        parse_device(text)
