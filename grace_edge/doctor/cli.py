"""``grace-edge doctor``: argparse only; the checks are :func:`grace_edge.doctor.checks.doctor`."""

from __future__ import annotations

import argparse
from pathlib import Path

from grace_edge.cli_options import add_command, add_device


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "doctor",
        help="check this machine first: versions, GPU, and a small TensorRT engine built, run and compared",
        description=(
            "Prints driver, CUDA, TensorRT, pycuda, cuda-python and ONNX Runtime versions, the GPU, and on a Jetson\n"
            "the JetPack release and power mode. With a GPU it then builds a small INT8 engine with every feature of\n"
            "grace-edge's graphs (uint8 input, cast, resize, conv, top-K, Cluster-NMS, Q/DQ), compares it with ONNX\n"
            "Runtime, times it and opens/closes detectors from two threads (a minute or two).\n"
            "Exit codes: 0 all passed; 1 something failed (one line each, with a hint); 3 no NVIDIA GPU found (only\n"
            "the CPU-side checks ran)."
        ),
        func=_run,
    )
    add_device(p, "auto", "GPU for the self-test: auto, a GPU index such as 0, or cuda:0")
    p.add_argument("--no-selftest", dest="selftest", action="store_false",
                   help="only print the versions; skip building and running the engine")
    p.add_argument("--work", type=Path, metavar="DIR", help="folder for the self-test's temporary files")


def _run(args: argparse.Namespace) -> int:
    from grace_edge.doctor.checks import doctor

    return doctor(device=args.device, selftest=args.selftest, work=args.work)
