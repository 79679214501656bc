"""Every attribute our fakes offer exists in the real library version they stand for, with a compatible signature.

The real surfaces (tests/fakes/api_surface/*.json) were recorded by tools/record_api_surface.py from the real
binding wheels: tensorrt 10.3 (JetPack 6.1+) and 11.4, pycuda 2026.1, cuda-python 12.9 and 13.4. Passing this proves
the fakes do not invent API; it does not prove the GPU path (only a GPU run does).
"""

from __future__ import annotations

import enum

import pytest

from tests.fakes import surface
from tests.fakes.cuda import Log, make_cudart, make_pycuda
from tests.fakes.tensorrt import make_tensorrt


@pytest.mark.parametrize("version", ["10.3", "11.4"])
def test_tensorrt_fake_matches_the_real_bindings(version: str) -> None:
    trt, _ = make_tensorrt(version)
    assert surface.mismatches(trt, f"tensorrt-{version}", "tensorrt") == []
    recorded = surface.load(f"tensorrt-{version}")["modules"]["tensorrt"]["version"]
    assert recorded == trt.__version__


def test_pycuda_fake_matches_the_real_module() -> None:
    _, driver = make_pycuda(Log())
    assert surface.mismatches(driver, "pycuda-2026.1", "pycuda.driver") == []


@pytest.mark.parametrize("label", ["cuda-python-12.9", "cuda-python-13.4"])
def test_cudart_fake_matches_cuda_bindings_runtime(label: str) -> None:
    assert surface.mismatches(make_cudart(Log()), label, "cuda.bindings.runtime") == []


def test_the_recorded_surfaces_say_what_the_versions_differ_in() -> None:
    """The facts our code and fakes rely on, read from the real recordings (not from our own fakes)."""
    trt10 = surface.real_module("tensorrt-10.3", "tensorrt")
    trt11 = surface.real_module("tensorrt-11.4", "tensorrt")
    assert {"FP16", "INT8", "TF32"} <= set(trt10["BuilderFlag"]["members"])
    assert not {"FP16", "INT8"} & set(trt11["BuilderFlag"]["members"]) and "TF32" in trt11["BuilderFlag"]["members"]
    assert trt10["NetworkDefinitionCreationFlag"]["members"]["STRONGLY_TYPED"] == 1
    assert trt11["NetworkDefinitionCreationFlag"]["members"]["STRONGLY_TYPED"] == 0  # still there, deprecated
    assert "IInt8EntropyCalibrator2" in trt10 and not any("Calibrator" in name for name in trt11)
    for trt in (trt10, trt11):
        assert "execute_async_v2" not in trt["IExecutionContext"]["members"]
        assert "set_tensor_address" in trt["IExecutionContext"]["members"]
    cuda12 = surface.load("cuda-python-12.9")["modules"]
    cuda13 = surface.load("cuda-python-13.4")["modules"]
    assert "cuda.cudart" in cuda12 and "cuda.cudart" not in cuda13  # 13.x: only cuda.bindings.runtime


# --- the check itself must fail on a wrong fake ------------------------------------------------------------------
def test_an_invented_method_is_caught() -> None:
    trt, _ = make_tensorrt("10.3")
    context_class = next(c for c in trt.__fake_classes__ if c.__name__ == "IExecutionContext")
    wrong = type("IExecutionContext", (context_class,), {"execute_async_v2": lambda self, bindings, stream_handle: True})
    trt.__fake_classes__ = (*trt.__fake_classes__, wrong)
    assert surface.mismatches(trt, "tensorrt-10.3", "tensorrt") == [
        "tensorrt-10.3:tensorrt.IExecutionContext.execute_async_v2 does not exist in the real API"
    ]


def test_a_10_3_flag_in_the_11_4_fake_is_caught() -> None:
    trt, _ = make_tensorrt("11.4")
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", {"FP16": 0, "GPU_FALLBACK": 3})
    assert surface.mismatches(trt, "tensorrt-11.4", "tensorrt") == [
        "tensorrt-11.4:tensorrt.BuilderFlag.FP16 does not exist in the real API"
    ]


def test_a_wrong_enum_value_is_caught() -> None:
    trt, _ = make_tensorrt("11.4")
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 1})
    problems = surface.mismatches(trt, "tensorrt-11.4", "tensorrt")
    assert problems == ["tensorrt-11.4:tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED = 1 in the fake, "
                        "0 in the real API"]


def test_a_wrong_signature_is_caught() -> None:
    trt, _ = make_tensorrt("10.3")

    class Runtime(trt.Runtime):
        def deserialize_cuda_engine(self, blob, extra):  # real: (self, serialized_engine)
            return None

    trt.Runtime = Runtime
    problems = surface.mismatches(trt, "tensorrt-10.3", "tensorrt")
    assert len(problems) == 1 and "Runtime.deserialize_cuda_engine(self, blob, extra) matches no real signature" \
        in problems[0]


def test_an_invented_module_function_and_a_static_mixup_are_caught() -> None:
    log = Log()
    _, driver = make_pycuda(log)
    driver.autoinit = lambda: None
    driver.Context.pop = lambda self: None  # real: a static method
    problems = surface.mismatches(driver, "pycuda-2026.1", "pycuda.driver")
    assert "pycuda-2026.1:pycuda.driver.autoinit does not exist in the real API" in problems
    assert "pycuda-2026.1:pycuda.driver.Context.pop is static in the real API but an instance method in the fake" \
        in problems
    assert len(problems) == 3  # the two above, and pop(self) matching no real signature
