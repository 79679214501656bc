"""``grace-edge train`` (one variant) and ``grace-edge ablate`` (the paper's four-variant ablation, Table 2): argparse
only; the ablation workflow and its table are :mod:`grace_edge.train.ablation`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from grace_edge.cli_options import add_command, add_device
from grace_edge.model.build import MODEL_NAMES
from grace_edge.train.protocol import GAMMA_MAX, PAPER_PROTOCOL, RAMP_EPOCHS, VARIANTS

VARIANT_NAMES = tuple(VARIANTS)  # the order of the paper's Table 2
MODEL_CHOICES = MODEL_NAMES
P = PAPER_PROTOCOL


def _protocol_options(p: argparse.ArgumentParser, project: str) -> None:
    p.add_argument("--data", default=None, help="data YAML of a YOLO dataset (from 'grace-edge data neu-det'); required")
    p.add_argument("--epochs", type=int, default=P["epochs"], help="training epochs (paper: %(default)s)")
    p.add_argument("--imgsz", type=int, default=P["imgsz"], help="square training image size in pixels (paper: %(default)s)")
    p.add_argument("--batch", type=int, default=P["batch"], help="images per batch, over all GPUs (paper: %(default)s)")
    p.add_argument("--lr0", type=float, default=P["lr0"], help="initial SGD learning rate (paper: %(default)s)")
    p.add_argument("--optimizer", default=P["optimizer"], help="Ultralytics optimizer name (paper: %(default)s)")
    p.add_argument("--seed", type=int, default=P["seed"], help="random seed (paper: %(default)s)")
    add_device(p, None, "'cpu', a GPU index such as 0 or cuda:0, or several such as 0,1 for multi-GPU (DDP); "
                        "default: first GPU if any, else CPU", many=True)
    p.add_argument("--workers", type=int, default=8, help="data-loading worker processes per GPU (CPU training uses 0)")
    p.add_argument("--fraction", type=float, default=1.0, help="train on this fraction of the train images (quick trials)")
    p.add_argument("--ramp-epochs", type=int, default=RAMP_EPOCHS,
                   help=f"epochs over which s_e (0.05->0.20) and gamma (0->{GAMMA_MAX:.2f}) ramp up (paper: %(default)s)")
    p.add_argument("--warmup-epochs", type=float, default=3.0,
                   help="epochs of learning-rate warm-up (Ultralytics' default %(default)s; fine-tuning from --weights "
                        "for a few epochs wants less, e.g. 0.5)")
    p.add_argument("--patience", type=int, default=100, help="stop early after this many epochs without val improvement")
    p.add_argument("--weights", default=None, help="start from this .pt checkpoint (matching tensors); default: from scratch")
    p.add_argument("--project", default=project, help="parent folder of the run folder")
    p.add_argument("--exist-ok", action="store_true", help="reuse an existing run folder instead of making name2, name3, ...")
    p.add_argument("--no-plots", action="store_true", help="skip Ultralytics' training plots (faster)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    t = add_command(
        sub, "train", help="train GRACE or a YOLO11 baseline on a YOLO dataset",
        description=(
            "Train one model variant. --variant picks the parts of GRACE: baseline (plain YOLO11), ds-cbsm "
            "(+ DS-CBSM++ class-balanced sampler), lite-fen (+ Lite-FEN on P3), grace (both). --model picks the size: "
            "'--model grace-s --variant baseline' trains YOLO11s. Defaults follow the paper (200 epochs, 640 px, "
            "batch 16, SGD lr0 0.001, seed 0). Weights land in PROJECT/NAME/weights/best.pt."
        ),
        func=run_train, wrap=True,
    )
    t.add_argument("--model", default="grace-s", choices=MODEL_CHOICES, help="model size family (default grace-s)")
    t.add_argument("--variant", default="grace", choices=VARIANT_NAMES, help="which GRACE parts to use (default grace)")
    t.add_argument("--name", default=None, help="run folder name (default MODEL-VARIANT)")
    t.add_argument("--resume", default=None, metavar="LAST_PT",
                   help="continue an interrupted run from its weights/last.pt: model, optimizer, EMA, schedule position "
                        "and DS-CBSM++ state (from grace_state.json beside it); the run's own settings apply, --data "
                        "is not needed")
    _protocol_options(t, "runs/train")

    a = add_command(
        sub, "ablate", help="train and evaluate the four GRACE variants (paper Table 2)",
        description=(
            "Train baseline, +DS-CBSM++, +Lite-FEN and GRACE with one protocol, evaluate each best.pt on the val split, "
            "and write the paper's Table 2 (variant, DS-CBSM++, Lite-FEN, params, mAP50-95, mAP50, P, R, F1) as "
            "PROJECT/NAME/ablation.md and .json."
        ),
        func=run_ablate, wrap=True,
    )
    a.add_argument("--model", default="grace-n", choices=MODEL_CHOICES, help="model size family (default grace-n)")
    a.add_argument("--variants", nargs="+", default=list(VARIANT_NAMES), choices=VARIANT_NAMES, help="variants to run (default: all four)")
    a.add_argument("--name", default="ablation", help="run folder name; each variant trains in NAME/VARIANT")
    _protocol_options(a, "runs/ablate")


def _overrides(args: argparse.Namespace, project: str, name: str) -> dict[str, Any]:
    from grace_edge.devices import to_ultralytics

    # Absolute, because Ultralytics nests a relative project under its own runs/<task>/ folder.
    project = str(Path(project).resolve())
    return {
        "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch, "lr0": args.lr0, "optimizer": args.optimizer,
        "seed": args.seed, "warmup_epochs": args.warmup_epochs, "device": to_ultralytics(args.device),
        "workers": args.workers, "fraction": args.fraction,
        "patience": args.patience, "project": project, "name": name, "exist_ok": args.exist_ok, "plots": not args.no_plots,
    }


def _options(args: argparse.Namespace, variant: str):
    from grace_edge.train.trainer import GraceOptions

    return GraceOptions(model=args.model, variant=variant, ramp_epochs=args.ramp_epochs, weights=args.weights)


def _require_data(args: argparse.Namespace) -> None:
    from grace_edge.data.yolo_yaml import MAKE_DATA_YAML
    from grace_edge.errors import InputError

    if not args.data:
        raise InputError(f"--data is required: a data YAML ({MAKE_DATA_YAML})")


def run_train(args: argparse.Namespace) -> int:
    from grace_edge.errors import InputError
    from grace_edge.train.trainer import train

    if args.resume:
        from grace_edge.devices import to_ultralytics

        trainer = train(args.data, resume=args.resume, device=to_ultralytics(args.device))
        print(f"best weights: {trainer.best}")
        return 0
    _require_data(args)
    run_dir = Path(args.project) / args.name if args.name else None
    if run_dir is not None and run_dir.exists() and not args.exist_ok:
        # Ultralytics would train into NAME2 while later commands (build, val) still read NAME's old weights.
        raise InputError(f"--name {args.name}: {run_dir} already holds a run; pass --exist-ok to train it again "
                         "(its weights are replaced) or choose another --name")
    trainer = train(args.data, _options(args, args.variant), **_overrides(args, args.project, args.name or f"{args.model}-{args.variant}"))
    print(f"best weights: {trainer.best}")
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from grace_edge.train.ablation import AblationOptions, ablation_table, run_ablation

    _require_data(args)
    out = Path(args.project) / args.name
    options = AblationOptions(data=args.data, model=args.model, variants=tuple(args.variants), out=out,
                              overrides=_overrides(args, str(out), ""), imgsz=args.imgsz, batch=args.batch,
                              device=args.device, ramp_epochs=args.ramp_epochs, weights=args.weights)
    print(ablation_table(run_ablation(options)))
    print(f"written: {out / 'ablation.md'} and ablation.json")
    return 0
