"""What ``grace-edge line`` does: validate the config (every problem one line), set up logging, run, summarise."""

from __future__ import annotations

import logging
from typing import TextIO

from grace_edge.line.config import ConfigError, load_config


def run_from_file(path: str, check_only: bool, quiet: bool, err: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as problems:
        for line in problems.lines:
            print(f"grace-edge line: error: {line}", file=err)
        return 2
    if check_only:
        print(f"line config {path}: ok", file=err)
        return 0
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=err,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from grace_edge.line.service import LineService

    summary = LineService(config).run()
    print(f"grace-edge line: {summary.line()}", file=err)
    return 1 if summary.verdicts.get("uninspected") else 0
