"""``grace-edge`` command line: one subcommand per pipeline stage.

Each stage module provides ``add_commands(subparsers)``, which adds its subcommands and sets ``func`` (a function
taking the parsed args and returning an exit code). Stage modules import heavy packages inside ``func`` only, so
``grace-edge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from typing import Sequence

from grace_edge import __version__
from grace_edge.errors import GraceEdgeError

# Order = pipeline order, which is also the order --help lists them in.
STAGE_CLI_MODULES = (
    "grace_edge.data.cli",  # data
    "grace_edge.train.cli",  # train, ablate
    "grace_edge.evaluate.cli",  # val
    "grace_edge.export.cli",  # export
    "grace_edge.engine.cli",  # build
    "grace_edge.runtime.cli",  # predict
    "grace_edge.line.cli",  # line: camera -> verdicts -> PLC / MQTT
    "grace_edge.bench.cli",  # bench
    "grace_edge.serve.cli",  # triton-repo: one server for many lines
    "grace_edge.doctor.cli",  # doctor: check a GPU machine first
)
# Commands that read a --weights checkpoint; each gets the one --trust-weights flag (grace_edge.model.safe_load).
WEIGHTS_COMMANDS = ("train", "ablate", "val", "export", "build", "bench")
# Commands that may build or open a TensorRT engine; each gets --trt-log-level (grace_edge.runtime.trt_logging).
TENSORRT_COMMANDS = ("val", "build", "predict", "bench", "doctor")
TRUST_WEIGHTS_HELP = (
    "runs code from the file: load a --weights checkpoint that refers to more than tensors and GRACE/YOLO11 model "
    "classes (unpickling it may execute anything). Only for checkpoints you trust like a script"
)


def build_parser() -> argparse.ArgumentParser:
    from grace_edge.cli_options import StrictParser

    parser = StrictParser(
        prog="grace-edge",
        description=(
            "GRACE steel-surface-defect detector, from NEU-DET to a TensorRT engine on the line.\n"
            "Typical flow: data -> train -> val -> export -> build -> bench / predict."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"grace-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in STAGE_CLI_MODULES:
        importlib.import_module(name).add_commands(sub)
    for command in (c for c in WEIGHTS_COMMANDS if c in sub.choices):
        sub.choices[command].add_argument("--trust-weights", action="store_true", help=TRUST_WEIGHTS_HELP)
    from grace_edge.runtime.trt_logging import ENV_VAR, LEVELS

    for command in (c for c in TENSORRT_COMMANDS if c in sub.choices):
        sub.choices[command].add_argument(
            "--trt-log-level", choices=LEVELS, metavar="LEVEL",
            help=f"TensorRT messages shown on stderr: {', '.join(LEVELS)} (default: ${ENV_VAR}, else warning)")
    return parser


def _trust(args: argparse.Namespace) -> contextlib.ExitStack:
    """Within the command, its checkpoint (--weights, --resume, val's ARTIFACT) may run code iff --trust-weights."""
    stack = contextlib.ExitStack()
    if getattr(args, "trust_weights", False):
        from grace_edge.model.safe_load import trusted

        for name in ("weights", "artifact", "artifact_alias", "resume"):
            if getattr(args, name, None):
                stack.enter_context(trusted(getattr(args, name)))
    return stack


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.command in TENSORRT_COMMANDS:
            from grace_edge.runtime.trt_logging import log_to_stderr

            log_to_stderr(getattr(args, "trt_log_level", None))
        with _trust(args):
            return int(args.func(args) or 0)
    except GraceEdgeError as e:
        print(f"grace-edge {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional extra's package (torch, tritonclient, ...) is not installed
        from grace_edge.extras import missing_extra

        message = missing_extra(e)
        if message is None:
            raise
        print(f"grace-edge {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as e:  # a file the OS refuses (permissions, a folder where a file belongs...): name it
        if e.filename is None:
            raise
        print(f"grace-edge {args.command}: error: {e.filename}: {e.strerror or type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"grace-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
