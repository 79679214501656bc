"""``grace-edge triton-repo``: write a Triton model repository from artifacts."""

from __future__ import annotations

import argparse

from grace_edge.cli_options import add_command


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "triton-repo",
        help="write an NVIDIA Triton model repository from .engine/.onnx artifacts (one server for many lines)",
        description=(
            "Write a standard Triton model repository at --out serving the ARTIFACTs as versions 1..N of one model.\n"
            "Every config.pbtxt field comes from the artifacts' metadata (tensor names, types, dims, batch range).\n"
            ".engine files become bare model.plan files for Triton's tensorrt backend (KIND_GPU): serve them with\n"
            "the Triton release whose TensorRT version built them. .onnx files go to the onnxruntime backend\n"
            "(KIND_CPU), or with --backend python to grace-edge's runtime inside Triton's python backend.\n"
            "Line controllers then connect with Detector.open('grpc://SERVER:8001/NAME')."
        ),
        func=run_triton_repo,
    )
    p.add_argument("artifacts", nargs="+", metavar="ARTIFACT",
                   help="models from 'grace-edge export' (.onnx) or 'grace-edge build' (.engine); one version each")
    p.add_argument("--out", required=True, metavar="DIR", help="the repository folder to write (built beside it, "
                   "then renamed into place)")
    p.add_argument("--name", default="grace", help="model name in the repository and in client URLs (default grace)")
    p.add_argument("--backend", default="auto", choices=("auto", "tensorrt", "onnxruntime", "python"),
                   help="auto (default): .engine -> tensorrt, .onnx -> onnxruntime; python: grace-edge's runtime "
                        "in Triton's python backend (needs grace-edge installed in the server)")
    p.add_argument("--instances", type=int, default=1, metavar="N",
                   help="model instances per device (instance_group count, default 1)")
    p.add_argument("--queue-delay-us", type=int, default=500, metavar="US",
                   help="dynamic batching: longest wait to fill a batch, in microseconds (default 500)")
    p.add_argument("--all-versions", action="store_true",
                   help="load every version (default: only the newest; older ones stay for rollback)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")


def run_triton_repo(args: argparse.Namespace) -> int:
    from grace_edge.serve.triton_repo import write_triton_repo

    out = write_triton_repo(args.artifacts, args.out, name=args.name, backend=args.backend,
                            instances=args.instances, queue_delay_us=args.queue_delay_us,
                            serve_all=args.all_versions, force=args.force)
    print(f"triton-repo: {len(args.artifacts)} version(s) of model '{args.name}' in {out}; see {out}/README.md")
    return 0
