"""Shared fixtures. NEU-DET comes from $GRACE_NEU_DET or ../shared/data/NEU-DET next to the repo.

Tests marked ``data`` skip when the dataset is absent, except in CI (``CI=true``), where they fail: CI always has it.
Tests marked ``gpu`` skip cleanly unless TensorRT, pycuda and a CUDA device are all present.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_NEU_DET = REPO.parent / "shared" / "data" / "NEU-DET"


def neu_det_path() -> Path:
    return Path(os.environ.get("GRACE_NEU_DET", DEFAULT_NEU_DET))


def _gpu_available() -> bool:
    try:
        import pycuda.driver as cuda  # noqa: F401
        import tensorrt  # noqa: F401

        cuda.init()
        return cuda.Device.count() > 0
    except Exception:
        return False


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("GRACE_EDGE_HOME", str(REPO / ".pytest_cache" / "grace-edge-home"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu = None
    for item in items:
        if "gpu" in item.keywords:
            gpu = _gpu_available() if gpu is None else gpu
            if not gpu:
                item.add_marker(pytest.mark.skip(reason="needs TensorRT + pycuda + a CUDA GPU"))


@pytest.fixture(scope="session")
def neu_det() -> Path:
    """Root of the raw NEU-DET copy (IMAGES/, ANNOTATIONS/)."""
    root = neu_det_path()
    if not (root / "IMAGES").is_dir() or not (root / "ANNOTATIONS").is_dir():
        message = f"NEU-DET not found at {root} (set GRACE_NEU_DET)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + ": CI must have the dataset")
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(neu_det: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small YOLO-format NEU-DET subset (a few images per class); returns the data YAML path."""
    from grace_edge.data.neu_det import convert

    out = tmp_path_factory.mktemp("neu_det_tiny")
    report = convert(neu_det, out, seed=0, limit_per_class=6)
    return report.yaml_path
