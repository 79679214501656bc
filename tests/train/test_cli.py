"""``grace-edge train`` / ``ablate`` wiring. Training and evaluation are replaced by fakes here (they have their own
real tests): these tests check only our argument handling, variant table and report files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from grace_edge.train import cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grace-edge")
    cli.add_commands(parser.add_subparsers(dest="command"))
    return parser


def test_train_defaults_follow_the_paper():
    args = _parser().parse_args(["train", "--data", "d.yaml"])
    assert (args.model, args.variant, args.epochs, args.imgsz, args.batch, args.lr0, args.optimizer, args.seed) == (
        "grace-s", "grace", 200, 640, 16, 0.001, "SGD", 0)
    assert args.weights is None and args.ramp_epochs == 30


def test_warmup_epochs_reaches_ultralytics(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import grace_edge.train.trainer as trainer_mod

    seen = []
    monkeypatch.setattr(trainer_mod, "train", lambda data, options, **o: seen.append(o["warmup_epochs"]) or SimpleNamespace(best="b.pt"))
    for extra in ([], ["--warmup-epochs", "0.5"]):
        args = _parser().parse_args(["train", "--data", "d.yaml", "--project", str(tmp_path), "--exist-ok", *extra])
        assert args.func(args) == 0
    assert seen == [3.0, 0.5]  # Ultralytics' default unless asked


def test_variant_picks_architecture_and_sampler():
    from grace_edge.train.trainer import GraceOptions

    got = {v: (GraceOptions(model="grace-s", variant=v).architecture, GraceOptions(model="grace-s", variant=v).sampler)
           for v in cli.VARIANT_NAMES}
    assert got == {"baseline": ("yolo11s", False), "ds-cbsm": ("yolo11s", True), "lite-fen": ("grace-s", False), "grace": ("grace-s", True)}
    assert GraceOptions(model="yolo11n", variant="grace").architecture == "grace-n"


def test_ablate_writes_table_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import grace_edge.evaluate
    import grace_edge.train.trainer as trainer_mod

    calls = []

    def fake_train(data, options, **overrides):  # fake: records the call, returns a trainer-like object
        calls.append((options.variant, options.architecture, overrides["name"]))
        model = torch.nn.Linear(10, 1 + len(calls))  # 11 * (1 + n) parameters: differs per variant
        return SimpleNamespace(best=tmp_path / overrides["name"] / "best.pt", model=model)

    def fake_evaluate(weights, data, **kw):  # fake: a metric that depends on the variant's run folder
        score = 0.1 * (1 + ["baseline", "ds-cbsm", "lite-fen", "grace"].index(Path(weights).parent.name))
        return SimpleNamespace(to_dict=lambda: {"map50_95": score, "map50": 2 * score, "precision": 0.5, "recall": 0.25, "f1": 1 / 3, "per_class": {}})

    def fake_ultralytics(weights, data, **kw):  # fake: the other protocol, a different number
        score = 0.01 * (1 + ["baseline", "ds-cbsm", "lite-fen", "grace"].index(Path(weights).parent.name))
        return SimpleNamespace(to_dict=lambda: {"map50_95": score, "map50": 2 * score, "precision": 0.5, "recall": 0.25, "f1": 1 / 3, "per_class": {}})

    import grace_edge.evaluate.ultralytics_protocol as ul_mod

    monkeypatch.setattr(trainer_mod, "train", fake_train)
    monkeypatch.setattr(grace_edge.evaluate, "evaluate", fake_evaluate)
    monkeypatch.setattr(ul_mod, "evaluate_ultralytics", fake_ultralytics)
    args = _parser().parse_args(["ablate", "--data", "d.yaml", "--project", str(tmp_path), "--epochs", "1", "--device", "cpu"])
    assert args.func(args) == 0
    assert calls == [("baseline", "yolo11n", "baseline"), ("ds-cbsm", "yolo11n", "ds-cbsm"),
                     ("lite-fen", "grace-n", "lite-fen"), ("grace", "grace-n", "grace")]
    report = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    assert [(r["variant"], r["ds_cbsm"], r["lite_fen"], r["params"]) for r in report["rows"]] == [
        ("baseline", False, False, 22), ("ds-cbsm", True, False, 33), ("lite-fen", False, True, 44), ("grace", True, True, 55)]
    assert report["rows"][3]["ultralytics"]["map50_95"] == pytest.approx(0.04)
    table = (tmp_path / "ablation" / "ablation.md").read_text().splitlines()
    assert table[0] == "COCO protocol (grace-edge val):"
    assert table[2] == "| variant | DS-CBSM++ | Lite-FEN | params | mAP50-95 | mAP50 | P | R | F1 |"
    assert table[4] == "| Baseline | no | no | 0.000 M | 10.00 | 20.00 | 50.00 | 25.00 | 33.33 |"
    assert table[7].startswith("| GRACE | yes | yes | 0.000 M | 40.00 | 80.00 |")
    assert table[9] == "Ultralytics protocol (model.val(), most likely the paper's):"
    assert table[16].startswith("| GRACE | yes | yes | 0.000 M | 4.00 | 8.00 |")


def test_train_rejects_missing_data_yaml(tmp_path: Path):
    from grace_edge.errors import InputError

    args = _parser().parse_args(["train", "--data", str(tmp_path / "nope.yaml"), "--project", str(tmp_path)])
    with pytest.raises(InputError, match="data YAML not found .make one with"):
        args.func(args)


def test_an_explicit_name_is_never_silently_renamed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import grace_edge.train.trainer as trainer_mod
    from grace_edge.errors import InputError

    names = []
    monkeypatch.setattr(trainer_mod, "train", lambda data, options, **o: names.append(o["name"]) or SimpleNamespace(best="b.pt"))
    (tmp_path / "demo").mkdir()
    args = _parser().parse_args(["train", "--data", "d.yaml", "--project", str(tmp_path), "--name", "demo"])
    with pytest.raises(InputError, match="already holds a run; pass --exist-ok"):
        args.func(args)
    assert names == []
    for extra in (["--name", "demo", "--exist-ok"], ["--name", "new"], []):  # explicit re-run, new name, default name
        args = _parser().parse_args(["train", "--data", "d.yaml", "--project", str(tmp_path), *extra])
        assert args.func(args) == 0
    assert names == ["demo", "new", "grace-s-grace"]


def test_data_is_required_unless_resuming(tmp_path: Path):
    from grace_edge.errors import InputError

    for command in (["train"], ["ablate"]):
        args = _parser().parse_args([*command, "--project", str(tmp_path)])
        with pytest.raises(InputError, match="--data is required"):
            args.func(args)
    args = _parser().parse_args(["train", "--resume", str(tmp_path / "missing.pt")])
    with pytest.raises(Exception, match="missing.pt"):  # resuming needs no --data; a missing checkpoint is named
        args.func(args)
