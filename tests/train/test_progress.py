"""Training progress lines: one per trained epoch (not for final_eval's extra call), ETA, summary; rank 0 only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from grace_edge.train import progress


def _trainer(epochs: int = 3) -> SimpleNamespace:
    return SimpleNamespace(
        epochs=epochs, start_epoch=0, epoch=0, device="cpu", batch_size=16, save_dir="runs/train/x",
        args=SimpleNamespace(imgsz=160, patience=100, val=True), train_time_start=0.0, epoch_time=60.0, stop=False,
        tloss=[1.0, 2.0, 3.0], label_loss_items=lambda t, prefix="train": dict(zip((f"{prefix}/box_loss", f"{prefix}/cls_loss", f"{prefix}/dfl_loss"), t)),
        metrics={progress.MAP50_95: 0.1234, progress.MAP50: 0.25}, fitness=0.13,
    )


def test_duration_units():
    assert progress.duration(45) == "45 s"  # the shared helper (tests/test_progress.py)


def test_epoch_line_in_points_with_eta():
    line = progress.epoch_line(2, 15, {"box_loss": 1.5, "cls_loss": 2.0}, {progress.MAP50_95: 0.041, progress.MAP50: 0.103}, 70, 60)
    assert line == "epoch 2/15  loss box 1.5 cls 2  val mAP50-95 4.1 mAP50 10.3  70 s/epoch  ETA 13 min"
    assert "ETA" not in progress.epoch_line(15, 15, {}, {}, 70, 60)
    assert "val skipped" in progress.epoch_line(1, 2, {}, {}, 1, 1)


def test_one_line_per_trained_epoch_and_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    t = _trainer(epochs=2)
    monkeypatch.setattr(progress.time, "time", lambda: 120.0)
    progress.on_train_start(t)
    for epoch in range(2):
        t.epoch = epoch
        progress.on_train_epoch_end(t)
        progress.on_fit_epoch_end(t)
    t.epoch = 2  # final_eval() reports best.pt as epoch + 1 without training: no epoch line
    t.metrics = {progress.MAP50_95: 0.2, progress.MAP50: 0.4}
    progress.on_fit_epoch_end(t)
    progress.on_train_end(t)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("training 2 epochs on cpu, 160 px, batch 16")
    assert lines[1] == "epoch 1/2  loss box 1 cls 2 dfl 3  val mAP50-95 12.3 mAP50 25.0  60 s/epoch  ETA 2 min"  # mean 120 s so far
    assert lines[2].startswith("epoch 2/2 ")
    assert len(lines) == 4 and "best epoch 2" in lines[3] and "mAP50-95 20.0 mAP50 40.0 (points)" in lines[3]


def test_val_skipped_when_ultralytics_did_not_validate(capsys: pytest.CaptureFixture):
    t = _trainer(epochs=3)
    t.args.val, t.fitness = False, None  # val=False: Ultralytics validates the last epoch only
    progress.on_train_start(t)
    progress.on_train_epoch_end(t)
    progress.on_fit_epoch_end(t)
    assert "val skipped" in capsys.readouterr().err


def test_silent_off_rank_zero(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    monkeypatch.setattr(progress, "_rank0", lambda: False)
    t = _trainer()
    for fn in progress.CALLBACKS.values():
        fn(t)
    assert capsys.readouterr().err == ""
