"""What Ultralytics' DDP launch does with our trainer, minus the GPUs: it pickles the trainer class, its args, the
built model and the callbacks, and a fresh process rebuilds ``Trainer(cfg, overrides=args, _callbacks=...)`` and sets
``trainer.model``. (Ultralytics uses cloudpickle, which pickles importable classes and functions by reference just
like the standard pickle used here.) Real multi-GPU training is not tested: no GPU here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.data


def test_trainer_state_survives_a_fresh_process(tiny_dataset: Path, tmp_path: Path):
    import torch

    from grace_edge.train.trainer import GraceOptions, GraceTrainer

    options = GraceOptions(model="grace-n", variant="lite-fen", ramp_epochs=7)
    trainer = GraceTrainer(overrides={"data": str(tiny_dataset), "device": "cpu", "project": str(tmp_path), "name": "t", "plots": False}, options=options)
    ours = {k: [f for f in v if f.__module__ == "grace_edge.train.trainer"] for k, v in trainer.callbacks.items()}
    state = tmp_path / "ddp_state.pt"
    torch.save({"trainer": type(trainer), "args": vars(trainer.args), "model": trainer.model, "callbacks": ours}, state)
    code = f"""
import json, torch
from ultralytics.utils import DEFAULT_CFG_DICT
state = torch.load({str(state)!r}, map_location="cpu", weights_only=False)
cfg = DEFAULT_CFG_DICT.copy(); cfg.update(save_dir="")
trainer = state["trainer"](cfg=cfg, overrides=state["args"], _callbacks=state["callbacks"])
trainer.model = state["model"]
o = trainer.options
print(json.dumps({{"cls": type(trainer).__name__, "variant": o.variant, "ramp": o.ramp_epochs, "sampler": o.sampler,
    "fens": sum(type(m).__name__ == "LiteFEN" for m in trainer.model.modules()),
    "epoch_start_callbacks": [f.__name__ for f in trainer.callbacks["on_train_epoch_start"] if f.__module__.startswith("grace_edge")]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"cls": "GraceTrainer", "variant": "lite-fen", "ramp": 7, "sampler": False, "fens": 1,
                   "epoch_start_callbacks": ["_on_train_epoch_start"]}  # not added twice
