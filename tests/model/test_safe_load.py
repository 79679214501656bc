"""The one safe checkpoint loader: our own and stock Ultralytics checkpoints load; nothing else runs code."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from grace_edge.model import safe_load
from grace_edge.model.safe_load import ALLOWED_GLOBALS, UnsafeCheckpoint
from tests.helpers.models import randomized_model
from tests.security.payloads import SystemPayload, evil_checkpoint, evil_legacy_pickle


@pytest.fixture(scope="module")
def grace_n():
    return randomized_model("grace-n", seed=0)


def _ultralytics_layouts(tmp: Path, model) -> dict[str, Path]:
    """What Ultralytics writes: Model.save() of a YOLO11n built from its YAML, and the training layout (EMA, args,
    the model carrying its loss object and IterableSimpleNamespace args), for stock YOLO11n and for our GRACE-n."""
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics import YOLO
    from ultralytics.utils import IterableSimpleNamespace

    yolo = YOLO("yolo11n.yaml")
    paths = {"stock-save": tmp / "yolo11n-save.pt"}
    yolo.save(paths["stock-save"])
    for name, net in (("stock-train", yolo.model), ("grace-train", model)):
        net = copy.deepcopy(net)
        net.args = IterableSimpleNamespace(imgsz=64, nc=6)
        net.criterion = net.init_criterion()
        paths[name] = tmp / f"{name}.pt"
        torch.save({"epoch": 3, "best_fitness": 0.5, "model": None, "ema": copy.deepcopy(net).half(), "updates": 7,
                    "optimizer": torch.optim.SGD(net.parameters(), lr=0.01).state_dict(), "train_args": {"imgsz": 64},
                    "train_metrics": {"metrics/mAP50(B)": 0.1}, "date": "2026-01-01", "version": "8.4"}, paths[name])
    paths["grace-plain"] = tmp / "grace-plain.pt"
    torch.save({"model": model, "train_args": {}}, paths["grace-plain"])
    return paths


def test_allow_list_is_exactly_what_our_and_ultralytics_checkpoints_need(grace_n, tmp_path: Path) -> None:
    needed: set[str] = set()
    registered = torch.serialization.get_safe_globals()  # a load earlier in this process registered our list
    torch.serialization.clear_safe_globals()
    try:
        for path in _ultralytics_layouts(tmp_path, grace_n).values():
            needed |= set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    finally:
        torch.serialization.add_safe_globals(registered)
    assert set(ALLOWED_GLOBALS) == needed  # nothing missing, nothing extra that no checkpoint of ours needs


def test_our_and_stock_checkpoints_load_safely(grace_n, tmp_path: Path) -> None:
    from grace_edge.model.weights import load_model

    for name, path in _ultralytics_layouts(tmp_path, grace_n).items():
        model = load_model(path)
        assert type(model).__name__ == "DetectionModel", name
        assert not model.training and next(model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("kind", ["bare", "real-checkpoint-plus-payload", "legacy-pickle"])
def test_payload_never_runs_and_is_named(kind: str, grace_n, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    if kind == "legacy-pickle":
        evil_legacy_pickle(path, marker)
    else:
        evil_checkpoint(path, marker, grace_n if kind != "bare" else None)
    with pytest.raises(UnsafeCheckpoint, match="--trust-weights") as info:
        safe_load.torch_load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    if kind != "legacy-pickle":
        assert "exec" in str(info.value)  # names the refused global
    assert not marker.exists()


def test_a_blocked_module_is_named_with_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # issue 22 item 4: torch words os.system apart ("module posix is blocked"): its clipped text, advice to set
    # weights_only=False, came through in place of the global and --trust-weights
    from grace_edge.cli import main
    from ultralytics.utils import patches

    marker = tmp_path / "PWNED"
    path = evil_checkpoint(tmp_path / "evil.pt", marker, payload=SystemPayload)
    for load in (lambda: safe_load.torch_load(path), lambda: patches.torch_load(str(path))):
        with pytest.raises(UnsafeCheckpoint) as info:
            load()
        assert str(path) in str(info.value) and "posix.system" in str(info.value) and "--trust-weights" in str(info.value)
        assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    assert main(["export", "--weights", str(path), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "posix.system" in err and "--trust-weights" in err and len(err.splitlines()) == 1, err
    assert not marker.exists()


def test_trust_means_runs_code_from_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "RAN"
    path = evil_checkpoint(tmp_path / "evil.pt", marker)
    safe_load.torch_load(path, trust=True)
    assert marker.exists()  # exactly what --trust-weights documents


def test_ultralytics_own_loaders_are_guarded(tmp_path: Path) -> None:
    """YOLO(path) and Ultralytics' load_checkpoint go through the guarded loader, trusted only in a trusted() block."""
    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import load_checkpoint
    from ultralytics.utils import patches

    marker = tmp_path / "PWNED"
    path = evil_checkpoint(tmp_path / "evil.pt", marker)
    assert patches.torch_load is safe_load.guarded_torch_load
    for load in (lambda: YOLO(str(path)), lambda: load_checkpoint(str(path)),
                 lambda: patches.torch_load(str(path), weights_only=False)):
        with pytest.raises(Exception):
            load()
        assert not marker.exists()
    with safe_load.trusted(path), pytest.raises(Exception):
        load_checkpoint(str(path))  # trusted: unpickled (payload runs), then rejected as not a model
    assert marker.exists()


def test_foreign_label_cache_is_never_unpickled(tmp_path: Path) -> None:
    """A labels/*.cache (a pickle) in a dataset folder is ignored; one this process saved is reused."""
    import numpy as np

    from grace_edge.ultralytics_setup import configure

    configure()
    from ultralytics.data import dataset
    from tests.security.payloads import Payload

    marker = tmp_path / "PWNED"
    cache = tmp_path / "train.cache"
    with open(cache, "wb") as f:
        np.save(f, np.array({"version": "x", "payload": Payload(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(FileNotFoundError):
        dataset.load_dataset_cache_file(cache)
    assert not marker.exists()
    dataset.save_dataset_cache_file("", tmp_path / "val.cache", {"labels": [1]}, "v1")
    assert dataset.load_dataset_cache_file(tmp_path / "val.cache") == {"labels": [1], "version": "v1"}
    assert not (tmp_path / "val.cache").exists()  # nothing written into the dataset folder
