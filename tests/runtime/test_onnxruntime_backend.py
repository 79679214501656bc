"""ONNX Runtime session options: spinning threads by default, sleeping threads with shared_cpu (one flag)."""

from __future__ import annotations

from grace_edge.runtime.onnxruntime_backend import session_options


def test_shared_cpu_turns_thread_spinning_off() -> None:
    default, shared = session_options(threads=2), session_options(threads=2, shared_cpu=True)
    for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
        assert default.get_session_config_entry(key) == "1"
        assert shared.get_session_config_entry(key) == "0"
    assert default.intra_op_num_threads == shared.intra_op_num_threads == 2


def test_runtime_flags_have_one_meaning_in_every_command() -> None:
    import argparse

    from grace_edge.cli_options import add_runtime_flags, runtime_options

    p = argparse.ArgumentParser()
    add_runtime_flags(p)
    args = p.parse_args(["--backend", "openvino", "--inference-precision", "bf16", "--shared-cpu"])
    from grace_edge.runtime.options import RuntimeOptions

    assert runtime_options(args) == RuntimeOptions(backend="openvino", inference_precision="bf16", shared_cpu=True)
    assert runtime_options(p.parse_args([])) == RuntimeOptions()
