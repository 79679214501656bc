"""Options every stage CLI spells the same way (argparse only): the positional ARTIFACT, ``--device``, the CPU
runtime choice (``--backend``, ``--inference-precision``, ``--shared-cpu``), the export's ``--topk``, and hidden old
spellings that still work but print a one-line deprecation."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from grace_edge.errors import InputError
from grace_edge.export.topk import DEFAULT_TOPK, TRT_TOPK_MAX

ARTIFACT_HELP = ".pt checkpoint from 'grace-edge train', .onnx from 'grace-edge export' / 'build', or .engine from 'build'"


class StrictParser(argparse.ArgumentParser):
    """The parser of every grace-edge command (subcommands inherit the class through ``add_subparsers``).

    No prefix matching: argparse took ``train --epoch 1`` as ``--epochs`` and trained the paper defaults for 18
    minutes. And an unknown flag is refused by the (sub)command that got it, so the error shows that command's usage,
    not the top level's (argparse hands a subcommand's leftovers up to the top parser by default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def add_command(sub: Any, name: str, help: str, description: str | None = None,
                func: Callable[[argparse.Namespace], int] | None = None, wrap: bool = False) -> argparse.ArgumentParser:
    """Open one (sub)command's parser: the same opening for every stage CLI. ``help`` is its line in the command
    list; ``description`` is printed as written (its line breaks kept) unless ``wrap``, where argparse refills it;
    ``func`` handles the parsed args and returns the exit code."""
    kwargs: dict[str, Any] = {"help": help, "description": description}
    if not wrap:
        kwargs["formatter_class"] = argparse.RawDescriptionHelpFormatter
    parser = sub.add_parser(name, **kwargs)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling of an option: stores into ``dest`` and tells the user the new one, in one line."""

    def __init__(self, option_strings: list[str], dest: str, instead: str = "", **kwargs: Any) -> None:
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.instead = instead

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog}: {option_string} is deprecated and will be removed; {self.instead}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_alias(parser: argparse.ArgumentParser, old: str, dest: str, instead: str, **kwargs: Any) -> None:
    """Keep ``old`` working as a hidden alias that fills ``dest`` (``instead`` says what to write now)."""
    parser.add_argument(old, dest=dest, action=DeprecatedAlias, instead=instead, **kwargs)


def device_type(many: bool = False) -> Callable[[str], str]:
    """argparse ``type`` for ``--device``: one parser for every command (``grace_edge.devices.parse_device``)."""
    from grace_edge.devices import parse_device

    def parse(text: str) -> str:
        try:
            return parse_device(text, many=many)
        except InputError as e:  # argparse shows an ArgumentTypeError's own message
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = "device"
    return parse


def add_device(parser: argparse.ArgumentParser, default: str | None, help: str, many: bool = False) -> None:
    parser.add_argument("--device", default=default, type=device_type(many), metavar="DEVICE", help=help)


def add_artifact(parser: argparse.ArgumentParser, help: str, old: str | None = None, optional: bool = False) -> None:
    """The positional ARTIFACT; ``old`` is the option that named it before (kept as a hidden alias)."""
    parser.add_argument("artifact", nargs="?", default=None, metavar="ARTIFACT", help=help)
    if old:
        add_alias(parser, old, "artifact_alias", "pass the artifact as the first argument instead", metavar="PATH")
    parser.set_defaults(artifact_optional=optional)


def artifact_of(args: argparse.Namespace) -> str | None:
    """The artifact given positionally or through the old option; an error when a required one is missing."""
    alias = getattr(args, "artifact_alias", None)
    if alias is not None and args.artifact is not None and alias != args.artifact:
        raise InputError(f"two artifacts given ({args.artifact} and {alias}): pass one, as the first argument")
    artifact = alias if alias is not None else args.artifact
    if artifact is None and not getattr(args, "artifact_optional", False):
        raise InputError("no ARTIFACT given: name the model file as the first argument")
    return artifact


def add_runtime_flags(p: argparse.ArgumentParser) -> None:
    """The runtime choice, with one meaning in predict, val, bench and build (whose accuracy gate runs on it)."""
    from grace_edge.runtime.backends import BACKEND_CHOICES
    from grace_edge.runtime.options import INFERENCE_PRECISIONS

    p.add_argument("--backend", default="auto", choices=BACKEND_CHOICES,
                   help="runtime for the artifact: auto (default: TensorRT for .engine, ONNX Runtime for .onnx), "
                        "or openvino for a .onnx on an x86 CPU (pip install 'grace-edge[openvino]')")
    p.add_argument("--inference-precision", default="fp32", choices=INFERENCE_PRECISIONS,
                   help="OpenVINO only: compute precision hint (default fp32); bf16 needs a CPU with native BF16 "
                        "(AVX512_BF16 or AMX) and changes the numbers, so check it with the accuracy gate")
    p.add_argument("--shared-cpu", action="store_true",
                   help="the CPU is shared with other busy processes: CPU runtime threads sleep when idle instead "
                        "of spinning (ONNX Runtime) and are not pinned to cores (OpenVINO). Spinning is a little "
                        "faster on an otherwise idle CPU and much slower on a loaded one "
                        "(benchmarks/results/cpu_runtime.md)")


def runtime_options(args: argparse.Namespace) -> Any:
    """The :class:`~grace_edge.runtime.options.RuntimeOptions` of :func:`add_runtime_flags` (and ``--device`` where
    the command has one that names where the artifact runs)."""
    from grace_edge.runtime.options import RuntimeOptions

    return RuntimeOptions(backend=args.backend, inference_precision=args.inference_precision,
                          shared_cpu=args.shared_cpu)


def add_topk(p: argparse.ArgumentParser) -> None:
    """``--topk`` of ``export`` and ``build`` (which exports): None when not given, so build can tell it was."""
    p.add_argument("--topk", type=int, default=None, metavar="K",
                   help=f"how many top-scoring candidates enter the in-graph Cluster-NMS (default {DEFAULT_TOPK}, "
                        f"at most {TRT_TOPK_MAX}, TensorRT's TopK limit). Lower K is faster on a CPU (the NMS builds "
                        "a K x K IoU matrix); on a GRACE-n trained at 640 px K=300 scored 0.03 points mAP50-95 below "
                        "greedy NMS at score floor 0.001 and K=1000 matched it exactly (benchmarks/nms_parity.py)")
