"""Issue 18's measure, kept: a reader following ``grace-edge build --int8`` changes rooms at most 12 times, and the
build hashes each model once (the FP32 for the INT8's provenance, the artifact when its backend seals it).

The walk is ``tools/house_metrics.py --walk`` (a tiny INT8 build under a profiler, each function counted at its
first call); a change that sends the build on a detour through another folder fails here with the walk printed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.data


def _house_metrics():
    spec = importlib.util.spec_from_file_location("house_metrics", ROOT / "tools" / "house_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_int8_build_walks_through_at_most_12_room_changes(neu_det: Path) -> None:
    walk = _house_metrics().walk(ROOT, neu_det)
    steps = "\n  ".join(walk["reader_steps"])
    assert walk["reader_room_changes"] <= 12, f"the INT8 build's reader's walk:\n  {steps}"
    assert walk["model_hashes"] <= 2, walk
    assert walk["rooms_visited"] == ["data", "engine", "evaluate", "export", "model", "runtime"], steps
