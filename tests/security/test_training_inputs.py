"""Issue 11 items 2, 6, 7 (train): a dataset folder never runs code, labels are checked against the YAML's classes
before training, and impossible settings are refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from grace_edge.cli import main
from tests.security.payloads import Payload


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture()
def dummy_yaml(tmp_path: Path) -> Path:
    data = tmp_path / "data.yaml"
    data.write_text("path: .\ntrain: images/train\nval: images/val\nnames: {0: a}\n")
    return data


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--fraction", "0"], "--fraction 0.0: must be in (0, 1]"),
    (["--fraction", "1.5"], "--fraction 1.5: must be in (0, 1]"),
    (["--batch", "0"], "--batch 0: must be at least 1"),
])
def test_impossible_settings_are_one_line(dummy_yaml: Path, flags: list[str], message: str, capsys) -> None:
    assert message in _one_line_error(["train", "--data", str(dummy_yaml), *flags], capsys)


def test_gpu_device_without_a_gpu_is_one_line(dummy_yaml: Path, capsys) -> None:
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has a GPU")
    err = _one_line_error(["train", "--data", str(dummy_yaml), "--device", "0"], capsys)
    assert "no CUDA GPU" in err and "--device cpu" in err


@pytest.fixture()
def dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny NEU-DET subset (tests below damage it)."""
    root = tmp_path / "neu"
    shutil.copytree(tiny_dataset.parent, root)
    yaml = root / "data.yaml"
    yaml.write_text(yaml.read_text().replace(str(tiny_dataset.parent), str(root)))
    return yaml


@pytest.mark.data
def test_label_beyond_the_yaml_classes_stops_train_before_it_starts(dataset: Path, tmp_path: Path, capsys) -> None:
    label = sorted((dataset.parent / "labels" / "train").glob("*.txt"))[3]
    lines = label.read_text().splitlines()
    label.write_text("\n".join([lines[0], "7 0.5 0.5 0.1 0.1", *lines[1:]]) + "\n")
    err = _one_line_error(["train", "--data", str(dataset), "--epochs", "1", "--project", str(tmp_path / "runs")],
                          capsys)
    assert f"{label}:2: class id 7 is not one of the 6 classes" in err
    assert not (tmp_path / "runs").exists()  # refused before Ultralytics made a run folder


@pytest.mark.slow
@pytest.mark.data
def test_crafted_label_cache_never_runs(dataset: Path, tmp_path: Path) -> None:
    from grace_edge.train.trainer import GraceOptions, train

    marker = tmp_path / "PWNED"
    for split in ("train", "val"):
        cache = dataset.parent / "labels" / f"{split}.cache"
        with open(cache, "wb") as f:  # what Ultralytics' np.load(allow_pickle=True) would unpickle
            np.save(f, np.array({"version": "1.0.3", "hash": "x", "payload": Payload(marker)}, dtype=object),
                    allow_pickle=True)
    trainer = train(dataset, GraceOptions(model="grace-n", variant="grace", ramp_epochs=1), epochs=1, imgsz=32,
                    batch=4, workers=0, device="cpu", project=str(tmp_path / "runs"), name="t", plots=False,
                    val=False)
    assert not marker.exists()
    assert trainer.last.is_file() and len(trainer.train_loader.dataset.labels) > 0
