"""--resume restores DS-CBSM++ (EMAs, window, weights, draw counter) and the schedule position with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grace_edge.errors import InputError
from grace_edge.train.ds_cbsm import DSCBSMConfig
from grace_edge.train.sampler import DSCBSM


class _Interrupted(Exception):
    pass


def _interrupt(trainer) -> None:
    raise _Interrupted  # like a power cut right after the first checkpoint and its grace_state.json


def _controller() -> DSCBSM:
    classes = [np.array([0]), np.array([1, 1]), np.array([2, 0]), np.array([], dtype=np.int64)]
    return DSCBSM(classes, 3, DSCBSMConfig(refresh_every=2), seed=1, block=2)


def test_state_round_trips_through_json():
    import torch

    a = _controller()
    a.set_gamma(0.3)
    for k in range(5):  # two refreshes and one batch pending
        a.record(torch.tensor([[1.0 + k, 2.0, 0.5], [1.0, 2.0, 1.0], [0.4, 0.9, 0.2], [1.0, 2.0, 1.0]]))
    list(iter(a.sampler))  # one pass: the draw counter moves
    saved = json.loads(json.dumps(a.to_dict()))
    b = _controller()
    b.load_dict(saved)
    assert b.to_dict() == a.to_dict()
    assert np.array_equal(b.sampler.weights.numpy(), a.sampler.weights.numpy())
    assert list(iter(b.sampler)) == list(iter(a.sampler))  # the next epoch draws the same images
    bad = json.loads(json.dumps(saved))
    bad["state"]["ema_loss"] = [0.0, 0.0]
    with pytest.raises(InputError, match="ema_loss"):
        _controller().load_dict(bad)


@pytest.mark.slow
@pytest.mark.data
def test_resume_continues_with_the_saved_sampler_state(tiny_dataset: Path, tmp_path: Path):
    from grace_edge.train.trainer import GRACE_STATE, GraceOptions, train

    options = GraceOptions(model="grace-n", variant="grace", ramp_epochs=2, ds_cbsm=DSCBSMConfig(refresh_every=2))
    with pytest.raises(_Interrupted):  # a run cut after its first checkpoint (a normal end strips last.pt for good)
        train(tiny_dataset, options, callbacks={"on_model_save": [_interrupt]}, epochs=2, imgsz=32, batch=4, workers=0,
              device="cpu", project=str(tmp_path), name="run", plots=False, val=False, lr0=0.01)
    last = tmp_path / "run" / "weights" / "last.pt"
    saved = json.loads((last.parent / GRACE_STATE).read_text())
    assert saved["epoch"] == 0 and saved["ds_cbsm"]["state"]["refreshes"] > 0

    seen = {}

    def capture(trainer):  # after setup, before the first resumed epoch
        seen.update(start=trainer.start_epoch, state=trainer.ds_cbsm.to_dict(), s_e=trainer.strength(trainer.start_epoch))

    resumed = train(None, resume=last, callbacks={"on_train_start": [capture]})
    assert seen["start"] == 1 and seen["state"] == saved["ds_cbsm"]
    assert seen["s_e"] == pytest.approx(0.125)  # epoch 1 of a 2-epoch ramp: the schedule continues, not restarts
    assert json.loads((resumed.wdir / GRACE_STATE).read_text())["epoch"] == 1


@pytest.mark.slow
@pytest.mark.data
def test_resume_without_state_file_is_an_input_error(tiny_dataset: Path, tmp_path: Path):
    from grace_edge.train.trainer import GRACE_STATE, GraceOptions, train

    with pytest.raises(_Interrupted):
        train(tiny_dataset, GraceOptions(model="grace-n", variant="ds-cbsm"), callbacks={"on_model_save": [_interrupt]},
              epochs=2, imgsz=32, batch=4, workers=0, device="cpu", project=str(tmp_path), name="run", plots=False, val=False)
    last = tmp_path / "run" / "weights" / "last.pt"
    (last.parent / GRACE_STATE).unlink()
    with pytest.raises(InputError, match="grace_state.json not found"):
        train(None, resume=last)
