"""One CLI vocabulary: ARTIFACT is positional in val/predict/bench, --device parses alike in every command, and
old spellings still work with a one-line deprecation."""

from __future__ import annotations

import pytest

from grace_edge.cli import build_parser
from grace_edge.cli_options import artifact_of
from grace_edge.errors import InputError


def parse(argv: list[str], capsys: pytest.CaptureFixture[str]):
    args = build_parser().parse_args(argv)
    return args, capsys.readouterr().err


def test_artifact_is_the_first_positional(capsys: pytest.CaptureFixture[str]) -> None:
    args, err = parse(["val", "m.onnx", "--data", "d.yaml"], capsys)
    assert artifact_of(args) == "m.onnx" and not err
    args, err = parse(["predict", "m.engine", "frames/"], capsys)
    assert (args.artifact, args.source) == ("m.engine", "frames/") and not err
    args, err = parse(["bench", "m.engine"], capsys)
    assert args.artifact == "m.engine" and not err


def test_old_spellings_work_with_one_deprecation_line(capsys: pytest.CaptureFixture[str]) -> None:
    from grace_edge.runtime.cli import _old_spelling

    args, err = parse(["val", "--weights", "best.pt", "--data", "d.yaml"], capsys)
    assert artifact_of(args) == "best.pt"
    assert err.count("\n") == 1 and "--weights is deprecated" in err and "first argument" in err
    args, err = parse(["predict", "frames/", "--model", "m.onnx"], capsys)
    _old_spelling(args)
    assert (args.artifact, args.source) == ("m.onnx", "frames/")
    assert err.count("\n") == 1 and "--model is deprecated" in err and "predict ARTIFACT SOURCE" in err
    args, err = parse(["export", "--conf", "0.05"], capsys)
    assert args.score_floor == 0.05 and err.count("\n") == 1 and "--score-floor" in err


def test_old_spellings_are_hidden_from_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command, old in (("val", "--weights"), ("predict", "--model"), ("export", "--conf")):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        usage = capsys.readouterr().out.split("\n\n")[0]  # every listed option appears in the usage block
        assert f"[{old} " not in usage


def test_missing_or_double_artifact_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    args, _ = parse(["val", "--data", "d.yaml"], capsys)
    with pytest.raises(InputError, match="no ARTIFACT given"):
        artifact_of(args)
    args, _ = parse(["val", "a.pt", "--weights", "b.pt", "--data", "d.yaml"], capsys)
    with pytest.raises(InputError, match="two artifacts given"):
        artifact_of(args)


@pytest.mark.parametrize("command", [["val", "m.pt", "--data", "d.yaml"], ["predict", "m.onnx", "x.jpg"],
                                     ["bench", "m.onnx"], ["train", "--data", "d.yaml"], ["doctor"]])
def test_every_device_option_takes_the_same_spellings(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for text, expected in (("0", "cuda:0"), ("cuda:0", "cuda:0"), ("cpu", "cpu")):
        args, _ = parse([*command, "--device", text], capsys)
        assert args.device == expected
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--device", "gpu0"])
    assert exit_info.value.code == 2 and "device 'gpu0'" in capsys.readouterr().err


def test_topk_is_one_option_in_export_and_build() -> None:
    from grace_edge.export.topk import DEFAULT_TOPK, TRT_TOPK_MAX

    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    options = [next(a for a in subcommands[c]._actions if a.dest == "topk") for c in ("export", "build")]
    assert options[0].help == options[1].help and options[0].default is None is options[1].default
    assert f"default {DEFAULT_TOPK}" in options[0].help and f"at most {TRT_TOPK_MAX}" in options[0].help
