"""Which ``pip install grace-edge[EXTRA]`` brings a package the lean runtime install leaves out.

``pip install grace-edge`` installs only what the line needs: ``Detector``, ``predict``, ``bench`` (without
``--compare``) and ``doctor`` (numpy, OpenCV, ONNX Runtime, onnx for the artifact metadata, PyYAML). Training,
export and accuracy need ``[train]``; TensorRT engines need the GPU extra for the machine's CUDA; a remote Detector
needs ``[triton]``. A command that reaches for a missing one says so in one line (see grace_edge.cli).
"""

from __future__ import annotations

GPU_EXTRAS = "'grace-edge[tensorrt-cu12]' (CUDA 12) or 'grace-edge[tensorrt-cu13]' (CUDA 13); on a Jetson '[jetson]'"
# top-level module name -> the extra that installs it
EXTRA_OF = {
    "torch": "train",
    "torchvision": "train",
    "ultralytics": "train",
    "onnxsim": "train",
    "faster_coco_eval": "train",
    "PIL": "train",
    "matplotlib": "train",
    "pycocotools": "dev",
    "tritonclient": "triton",
    "paho": "line",
    "asyncua": "line",
    "prometheus_client": "line",
    "harvesters": "genicam",
    "tensorrt": None,
    "pycuda": None,
    "cuda": None,
}


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """One line naming the extra that installs the module ``error`` is about; None if it is not one of ours."""
    module = (error.name or "").split(".")[0]
    if module not in EXTRA_OF:
        return None
    extra = EXTRA_OF[module]
    how = f"pip install {GPU_EXTRAS}" if extra is None else f"pip install 'grace-edge[{extra}]'"
    return f"this needs {module}, which the lean runtime install leaves out: {how}"
