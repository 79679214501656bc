"""Build GRACE and baseline YOLO11 detection models from the YOLO11 architecture, with no download.

GRACE = YOLO11 + one Lite-FEN on the P3 output of the neck, right before Detect. It is appended as the last
backbone/head layer (index 23) and Detect reads it in place of layer 16, so every other layer index, and thus
Ultralytics' YOLO11 layout, stays as it is.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from grace_edge.data.classes import NEU_DET_CLASSES
from grace_edge.errors import InputError
MODEL_NAMES = ("grace-s", "grace-n", "yolo11s", "yolo11n")
P3_LAYER = 16  # YOLO11 head layer that outputs P3/8
# P3 channels per scale: make_divisible(min(256, max_channels) * width, 8).
_P3_CHANNELS = {"n": 64, "s": 128, "m": 256, "l": 256, "x": 384}


def register_modules() -> None:
    """Make ``LiteFEN`` resolvable by name in Ultralytics model YAMLs (parse_model looks names up in its globals)."""
    from ultralytics.nn import tasks

    from grace_edge.model.lite_fen import LiteFEN

    tasks.__dict__.setdefault("LiteFEN", LiteFEN)


def model_yaml(name: str, nc: int = len(NEU_DET_CLASSES)) -> dict[str, Any]:
    """The Ultralytics model dict for ``name`` (one of MODEL_NAMES), with the scale fixed."""
    if name not in MODEL_NAMES:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    from ultralytics.nn.tasks import yaml_model_load

    scale = name[-1]
    cfg = copy.deepcopy(yaml_model_load("yolo11.yaml"))
    cfg.update(nc=nc, scale=scale, yaml_file=f"{name}.yaml")
    if name.startswith("grace"):
        detect = cfg["head"][-1]
        cfg["head"][-1:] = [[P3_LAYER, 1, "LiteFEN", [_P3_CHANNELS[scale]]], [[23, *detect[0][1:]], *detect[1:]]]
    return cfg


def build_model(name: str = "grace-s", nc: int = len(NEU_DET_CLASSES), names: list[str] | None = None, verbose: bool = False):
    """Build an untrained ``DetectionModel`` for ``name``; ``names`` defaults to the NEU-DET classes."""
    from grace_edge.ultralytics_setup import configure

    configure()
    register_modules()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(model_yaml(name, nc), ch=3, nc=nc, verbose=verbose)
    labels = list(names) if names else list(NEU_DET_CLASSES[:nc]) if nc <= len(NEU_DET_CLASSES) else None
    model.names = {i: n for i, n in enumerate(labels)} if labels else {i: f"class{i}" for i in range(nc)}
    return model


def untrained_model(name: str, missing: str, doing: str):
    """An untrained ``name`` for latency measurement, after a warning on stderr that its detections are meaningless
    (``missing``: the flags not given; ``doing``: what the command does with it)."""
    print(f"WARNING: no {missing} given: {doing} an UNTRAINED {name}. Its detections are meaningless; "
          "use it only to measure latency.", file=sys.stderr)
    return build_model(name)


def lite_fen_modules(model) -> list:
    """All Lite-FEN modules in ``model`` (a DetectionModel or anything with ``.modules()``)."""
    from grace_edge.model.lite_fen import LiteFEN

    return [m for m in model.modules() if isinstance(m, LiteFEN)]
