"""A real (tiny) GRACE training run: s_e on model and EMA, the schedule CSV, DS-CBSM++ in the loader, checkpoints."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grace_edge.errors import ArtifactError, InputError

pytestmark = [pytest.mark.slow, pytest.mark.data]


@pytest.fixture(scope="module")
def trained(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    from grace_edge.train.ds_cbsm import DSCBSMConfig
    from grace_edge.train.trainer import GraceOptions, train

    options = GraceOptions(model="grace-n", variant="grace", ramp_epochs=2, ds_cbsm=DSCBSMConfig(refresh_every=2))
    project = tmp_path_factory.mktemp("runs")
    # 2 epochs so that the schedule moves: s_e 0.05 -> 0.125, gamma 0 -> 0.30 (ramp over 2 epochs)
    return train(tiny_dataset, options, epochs=2, imgsz=64, batch=4, workers=0, device="cpu", project=str(project),
                 name="grace", plots=False, val=False, lr0=0.01)


def test_s_e_set_on_model_and_ema(trained):
    from grace_edge.model.build import lite_fen_modules

    for model in (trained.model, trained.ema.ema):
        (fen,) = lite_fen_modules(model)
        assert float(fen.s_e) == pytest.approx(0.125, abs=1e-6)


def test_loader_uses_ds_cbsm_and_stats_flow(trained):
    assert trained.train_loader.sampler is trained.ds_cbsm.sampler
    state = trained.ds_cbsm.state
    # an untrained head scores far below 0.01, so the confidence EMAs may still be empty; the loss EMAs are not
    assert state.refreshes >= 2 and state.ema_loss.max() > 0
    assert state.gamma == pytest.approx(0.30)


def test_schedule_csv(trained):
    rows = list(csv.DictReader((trained.save_dir / "grace_schedule.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert [float(r["s_e"]) for r in rows] == pytest.approx([0.05, 0.125])
    assert [float(r["gamma"]) for r in rows] == pytest.approx([0.0, 0.3])
    for key in ("w/pitted_surface", "w_base/crazing", "w_dyn/scratches", "ema_loss/patches", "ema_conf/inclusion"):
        assert key in rows[-1]


def test_checkpoint_loads_in_fresh_process(trained):
    code = f"""
import json, sys
import grace_edge.model
from grace_edge.model.weights import load_model
from grace_edge.model.build import lite_fen_modules
m = load_model({str(trained.last)!r})
from ultralytics import YOLO
y = YOLO({str(trained.last)!r})
import numpy as np
r = y.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64, device="cpu", verbose=False)
print(json.dumps({{"type": type(m).__name__, "s_e": [float(f.s_e) for f in lite_fen_modules(m)],
                  "options": m.grace_options, "names": m.names, "yolo_fens": len(lite_fen_modules(y.model)), "results": len(r)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["type"] == "DetectionModel" and got["s_e"] == [0.125] and got["yolo_fens"] == 1 and got["results"] == 1
    assert got["options"]["variant"] == "grace" and got["names"]["3"] == "pitted_surface"


def test_load_model_errors(tmp_path: Path):
    from grace_edge.model.weights import load_model

    with pytest.raises(ArtifactError, match="not found"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match="not a readable training checkpoint"):
        load_model(bad)


def test_weights_start_from_checkpoint_and_bad_data(trained, tmp_path: Path):
    from grace_edge.model.build import build_model
    from grace_edge.model.weights import load_model, load_weights

    fresh = build_model("grace-n")
    assert load_weights(fresh, trained.last) == len(fresh.state_dict())
    source = load_model(trained.last).state_dict()
    key = "model.23.ca.1.weight"
    assert (fresh.state_dict()[key] == source[key]).all()

    from grace_edge.train.trainer import train

    with pytest.raises(InputError, match="data YAML not found .make one with"):
        train(tmp_path / "missing.yaml")
