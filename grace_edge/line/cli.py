"""``grace-edge line CONFIG.yaml``: run the line service (argparse only; the logic is in grace_edge.line.service)."""

from __future__ import annotations

import argparse
import sys

from grace_edge.cli_options import add_command


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "line",
        help="run a line: camera -> detector -> ok/reject/uninspected verdicts to MQTT, OPC UA, a JSONL log",
        description=(
            "Run the line service that CONFIG describes (see examples/line_neu_det.yaml and docs/line.md): frames\n"
            "from a folder, video, RTSP/USB camera or GenICam camera are judged by the model and every part's\n"
            "verdict goes to each configured sink. /metrics and /healthz are served on the http address.\n"
            "SIGTERM or Ctrl+C stops taking frames, drains the frames in flight and flushes every sink.\n"
            "Exit code: 0 when every part was inspected, 1 when some were not, 2 for a bad config."
        ),
        func=run_line,
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="the line's YAML configuration")
    p.add_argument("--check", action="store_true", help="only validate CONFIG (one line per problem) and exit")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")


def run_line(args: argparse.Namespace) -> int:
    from grace_edge.line.run import run_from_file

    return run_from_file(args.config, check_only=args.check, quiet=args.quiet, err=sys.stderr)
