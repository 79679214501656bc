"""``grace-edge data``: prepare datasets. Heavy imports happen inside the handler only."""

from __future__ import annotations

import argparse
import sys

from grace_edge.cli_options import add_command

_DATA_HELP = "prepare a training dataset (NEU-DET -> Ultralytics YOLO format)"
_NEU_DET_DESCRIPTION = """\
Convert the NEU-DET steel-surface-defect dataset (Pascal VOC boxes) into the YOLO format that `grace-edge train`
reads, with a seeded 8:2 train/val split stratified by class.

Get the data: download NEU-DET from Zenodo record 16882077 (https://zenodo.org/records/16882077) and unpack it so
that --src holds two folders:
  IMAGES/<class>_<n>.jpg        the 200x200 images (1,800: 6 classes x 300)
  ANNOTATIONS/<class>_<n>.xml   one Pascal VOC file per image, matched by file name

What it does: takes each box's class from its <name> tag (not from the file name), keeps byte-identical images once
(patches_105.jpg duplicates patches_101.jpg) and a box repeated within one XML once, keeps 'difficult' boxes as
normal boxes, and checks every file.
A file with a problem (bad XML, missing partner, corrupt image, wrong size, empty or out-of-image box, unknown
class) skips its image whole; each problem is printed and saved in OUT/problems.json. --strict stops instead.

Writes OUT/images/{train,val}, OUT/labels/{train,val}, OUT/data.yaml (the dataset file for `grace-edge train`),
OUT/stats.json (instances per class and COCO size bins) and OUT/problems.json. OUT appears only when complete.

Example:
  grace-edge data neu-det --src ~/data/NEU-DET --out ~/data/neu-det-yolo
"""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its subcommand ``neu-det``."""
    data = add_command(
        subparsers, "data", help=_DATA_HELP,
        description=_DATA_HELP + ". Run `grace-edge data neu-det --help` for the steps and options.",
        wrap=True,
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="DATASET")
    data.set_defaults(func=lambda args: _print_help(data))
    p = add_command(
        data_sub, "neu-det", help="convert NEU-DET (IMAGES/ + ANNOTATIONS/) into a YOLO dataset with a train/val split",
        description=_NEU_DET_DESCRIPTION,
        func=run_neu_det,
    )
    p.add_argument("--src", required=True, metavar="DIR", help="NEU-DET folder holding IMAGES/ and ANNOTATIONS/")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="output folder for the YOLO dataset (new or empty, unless --force)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed of the train/val split; same seed, same split (default: 0)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of each class's images that go to validation, between 0 and 1 (default: 0.2, the 8:2 split)",
    )
    p.add_argument(
        "--strict", action="store_true", help="stop with an error on any problem in the data, writing nothing"
    )
    p.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        metavar="N",
        help="use only the first N images of each class (sorted by name), for quick trials and tests",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a non-empty --out (only once the new dataset is complete)"
    )


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_neu_det(args: argparse.Namespace) -> int:
    """Handler of ``grace-edge data neu-det``: convert, print the summary, list problems on stderr."""
    from grace_edge.data.neu_det import DatasetProblemsError, convert

    try:
        report = convert(
            args.src,
            args.out,
            seed=args.seed,
            val_fraction=args.val_fraction,
            strict=args.strict,
            limit_per_class=args.limit_per_class,
            force=args.force,
        )
    except DatasetProblemsError as e:
        for problem in e.problems:
            print(f"  problem: {problem}", file=sys.stderr)
        raise
    for problem in report.problems:  # convert() also logs a one-line warning with the counts
        print(f"  problem: {problem}", file=sys.stderr)
    print(report.summary())
    return 0
