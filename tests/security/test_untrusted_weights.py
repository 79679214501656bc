"""Issue 11 item 1: a --weights file never runs code in any command unless --trust-weights is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from grace_edge.cli import main
from tests.helpers.fake_graph import make_fake_onnx
from tests.helpers.models import randomized_model
from tests.security.payloads import evil_checkpoint, evil_legacy_pickle


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("untrusted")
    import cv2
    import numpy as np

    for split in ("train", "val"):  # a valid one-image dataset: the weights, not the data, must stop each command
        (tmp / "images" / split).mkdir(parents=True)
        (tmp / "labels" / split).mkdir(parents=True)
        cv2.imwrite(str(tmp / "images" / split / "a.png"), np.full((64, 64, 3), 128, np.uint8))
        (tmp / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = tmp / "data.yaml"
    data.write_text(f"path: {tmp}\ntrain: images/train\nval: images/val\nnames: {{0: a}}\n")
    return {"tmp": tmp, "data": data, "onnx": make_fake_onnx(tmp / "fake.onnx")}


def _commands(weights: Path, files: dict[str, Path]) -> dict[str, list[str]]:
    out = files["tmp"]
    return {
        "export": ["export", "--weights", str(weights), "--out", str(out / "x.onnx")],
        "build": ["build", "--fp32", "--weights", str(weights), "--out", str(out / "x-cpu.onnx")],
        "val": ["val", str(weights), "--data", str(files["data"])],
        "train": ["train", "--weights", str(weights), "--data", str(files["data"]), "--epochs", "1",
                  "--project", str(out / "runs")],
        "bench": ["bench", str(files["onnx"]), "--synthetic", "--num-images", "1", "--iters", "1", "--warmup", "0",
                  "--compare", "ultralytics", "--weights", str(weights), "--json", str(out / "b.json")],
    }


@pytest.mark.parametrize("command", ["export", "build", "val", "train", "bench"])
@pytest.mark.parametrize("kind", ["bare", "checkpoint+payload", "legacy-pickle"])
def test_no_payload_runs_in_any_command(command: str, kind: str, files, capsys, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    weights = tmp_path / "evil.pt"
    if kind == "legacy-pickle":
        evil_legacy_pickle(weights, marker)
    else:
        evil_checkpoint(weights, marker, randomized_model("grace-n") if kind != "bare" else None)
    rc = main(_commands(weights, files)[command])
    err = capsys.readouterr().err.strip()
    assert not marker.exists(), f"{command}: the payload ran"
    assert rc == 2 and "--trust-weights" in err and str(weights) in err, err
    assert len(err.splitlines()) == 1, err


def test_trust_weights_is_one_flag_on_every_command() -> None:
    from grace_edge.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("export", "build", "val", "train", "ablate", "bench"):
        flags = {s for a in sub.choices[command]._actions for s in a.option_strings}
        assert "--trust-weights" in flags, command
        help_text = next(a.help for a in sub.choices[command]._actions if "--trust-weights" in a.option_strings)
        assert "runs code from the file" in help_text
