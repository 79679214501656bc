"""A GraceTrainer on the tiny NEU-DET subset, set up but not trained (for tests of datasets and loaders)."""

from __future__ import annotations

from pathlib import Path


def tiny_trainer(data: Path, project: Path, variant: str, **overrides):
    from grace_edge.train.trainer import GraceOptions, GraceTrainer

    args = {"data": str(data), "imgsz": 64, "batch": 4, "device": "cpu", "workers": 0, "project": str(project),
            "name": "run", "plots": False, **overrides}
    return GraceTrainer(overrides=args, options=GraceOptions(model="grace-n", variant=variant))
